//! Frames: each message is one frame, a 4-byte
//! big-endian length followed by the BCS encoding (the ledger's canonical
//! encoding, so records cross the wire in the bytes they are hashed in).
//!
//! Every message type has its own size limit, checked against the length
//! before the body is read: the body's first byte is its BCS variant tag,
//! so a frame announcing more than its type may carry is refused at once.
//! The body is then read as it arrives, never allocated up front from what
//! a peer announced.

use std::io;

use async_trait::async_trait;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response;
use libp2p::StreamProtocol;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{WireRequest, WireResponse};
use crate::refusals::Refusals;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Raft entries (whole blocks) one AppendEntries carries at most.
pub const ENTRIES_PER_APPEND: u64 = 8;
/// The largest body any message may have: an append of
/// [`ENTRIES_PER_APPEND`] full blocks.
pub const MAX_FRAME_BYTES: usize = APPEND_LIMIT;
/// Eight blocks of at most 4 MiB of records, each with one record more
/// (a block is cut after the record that crosses 4 MiB) and its framing.
const APPEND_LIMIT: usize = 48 * MIB;
/// A snapshot chunk: at most `[raft] snapshot_chunk_bytes` of chain file
/// plus its meta.
pub const SNAPSHOT_CHUNK_LIMIT: usize = 16 * MIB;
/// Records forwarded to the leader in one request: the forwarder splits
/// larger submissions.
pub const FORWARD_LIMIT: usize = 9 * MIB;
const SMALL_LIMIT: usize = 64 * KIB;
const LIST_LIMIT: usize = 4 * MIB;

/// The message types a frame's first body byte names, as the size limit
/// each may have. Tags follow the variant order of the wire enums, which
/// `node/testdata/wire_vectors.json` pins.
fn request_limit(tag: u8) -> Option<(&'static str, usize)> {
    Some(match tag {
        0 => ("append-entries", APPEND_LIMIT),
        1 => ("vote", SMALL_LIMIT),
        2 => ("install-snapshot", SNAPSHOT_CHUNK_LIMIT),
        3 => ("submit", FORWARD_LIMIT),
        4 => ("attestations", SMALL_LIMIT),
        5 => ("disclose", SMALL_LIMIT),
        _ => return None,
    })
}

fn response_limit(tag: u8) -> Option<(&'static str, usize)> {
    Some(match tag {
        0 => ("append-entries response", SMALL_LIMIT),
        1 => ("vote response", SMALL_LIMIT),
        2 => ("install-snapshot response", SMALL_LIMIT),
        3 => ("submit response", LIST_LIMIT),
        4 => ("attestations response", LIST_LIMIT),
        5 => ("disclose response", LIST_LIMIT),
        6 => ("refusal", SMALL_LIMIT),
        _ => return None,
    })
}

type Limits = fn(u8) -> Option<(&'static str, usize)>;

/// Reads and writes frames; a node's codec counts and logs the requests
/// it refuses to read (libp2p reports no failure for a request it never
/// finished reading, nor the peer it came from).
#[derive(Clone, Default)]
pub struct FrameCodec {
    refusals: Option<Refusals>,
}

impl FrameCodec {
    pub fn counting(refusals: Refusals) -> FrameCodec {
        FrameCodec {
            refusals: Some(refusals),
        }
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Reads one frame whose body's type, named by its first byte, must fit
/// the limit `limits` gives it.
async fn read_frame<T, M>(io: &mut T, limits: Limits) -> io::Result<M>
where
    T: AsyncRead + Unpin + Send,
    M: DeserializeOwned,
{
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 {
        return Err(invalid("empty frame"));
    }
    let mut tag = [0u8; 1];
    io.read_exact(&mut tag).await?;
    let (kind, limit) =
        limits(tag[0]).ok_or_else(|| invalid(format!("unknown message type {}", tag[0])))?;
    if len > limit {
        return Err(invalid(format!(
            "{kind} frame of {len} bytes exceeds its limit of {limit}"
        )));
    }
    let mut body = Vec::with_capacity(len.min(SMALL_LIMIT));
    body.push(tag[0]);
    (&mut *io)
        .take(len as u64 - 1)
        .read_to_end(&mut body)
        .await?;
    if body.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{kind} frame ended after {} of {len} bytes", body.len()),
        ));
    }
    bcs::from_bytes(&body).map_err(invalid)
}

async fn write_frame<T, M>(io: &mut T, message: &M, limits: Limits) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
    M: Serialize,
{
    let bytes = bcs::to_bytes(message).map_err(invalid)?;
    let limit = bytes.first().and_then(|tag| limits(*tag));
    match limit {
        Some((_, limit)) if bytes.len() <= limit => {}
        _ => {
            return Err(invalid(format!(
                "message of {} bytes is over its type's limit",
                bytes.len()
            )))
        }
    }
    io.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
    io.write_all(&bytes).await?;
    io.close().await
}

#[async_trait]
impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = WireRequest;
    type Response = WireResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<WireRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let request = read_frame(io, request_limit).await;
        if let (Err(e), Some(refusals)) = (&request, &self.refusals) {
            refusals.refuse("a peer", "frame", e);
        }
        request
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<WireResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, response_limit).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: WireRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request, request_limit).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: WireResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response, response_limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::samples::{requests, responses};
    use super::*;

    /// The tag and limit kind of each variant, in the order of the enums.
    const REQUESTS: [(&str, &str); 6] = [
        ("append_entries", "append-entries"),
        ("vote", "vote"),
        ("install_snapshot", "install-snapshot"),
        ("submit", "submit"),
        ("attestations", "attestations"),
        ("disclose", "disclose"),
    ];
    const RESPONSES: [&str; 7] = [
        "append_entries",
        "vote",
        "install_snapshot",
        "submit",
        "attestations",
        "disclose",
        "refused",
    ];

    /// The variant a sample's name `request.<variant>[.<case>]` names.
    fn variant(name: &str) -> &str {
        name.split('.').nth(1).unwrap_or_default()
    }

    #[test]
    fn every_variant_has_the_tag_its_limit_is_keyed_by() {
        for (name, request) in requests() {
            let bytes = bcs::to_bytes(&request).expect("encodes");
            let tag = REQUESTS.iter().position(|(v, _)| *v == variant(name));
            assert_eq!(tag, Some(bytes[0] as usize), "{name}");
            let kind = REQUESTS[bytes[0] as usize].1;
            assert_eq!(request_limit(bytes[0]).map(|l| l.0), Some(kind), "{name}");
        }
        for (name, response) in responses() {
            let bytes = bcs::to_bytes(&response).expect("encodes");
            let tag = RESPONSES.iter().position(|v| *v == variant(name));
            assert_eq!(tag, Some(bytes[0] as usize), "{name}");
            assert!(response_limit(bytes[0]).is_some(), "{name}");
        }
        assert_eq!(request_limit(6), None);
        assert_eq!(response_limit(7), None);
    }

    fn frame(len: u32, body: &[u8]) -> Vec<u8> {
        let mut out = len.to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    async fn read(bytes: Vec<u8>) -> io::Result<WireRequest> {
        read_frame(&mut futures::io::Cursor::new(bytes), request_limit).await
    }

    #[tokio::test]
    async fn frames_round_trip_and_oversized_or_short_ones_are_refused() {
        for (_, request) in requests() {
            let mut out = futures::io::Cursor::new(Vec::new());
            write_frame(&mut out, &request, request_limit)
                .await
                .expect("writes");
            let back = read(out.into_inner()).await.expect("reads back");
            assert_eq!(bcs::to_bytes(&back).ok(), bcs::to_bytes(&request).ok());
        }
        let gigabyte = read(frame(1 << 30, &[0, 0, 0])).await;
        let error = gigabyte.expect_err("a 1 GiB append is refused").to_string();
        assert!(error.contains("exceeds its limit"), "{error}");
        let vote = read(frame(70 * 1024, &[1]))
            .await
            .expect_err("a large vote");
        assert!(vote.to_string().contains("vote frame"), "{vote}");
        let short = read(frame(100, &[4, 1, 2]))
            .await
            .expect_err("a short frame");
        assert_eq!(short.kind(), io::ErrorKind::UnexpectedEof);
        let unknown = read(frame(8, &[9; 8])).await.expect_err("an unknown tag");
        assert!(
            unknown.to_string().contains("unknown message type"),
            "{unknown}"
        );
        assert!(read(frame(0, &[])).await.is_err(), "an empty frame");
    }

    #[test]
    fn a_record_survives_the_wire_encoding() {
        let kit = fundtrail_testkit::Kit::new(3);
        let body = fundtrail_testkit::bodies::grant(
            kit.person(1),
            fundtrail_ledger::types::Category::Dibao,
            "2026-01-01",
            "2026-12-31",
        );
        let record = kit.sign(fundtrail_ledger::types::Role::CivilAffairs, body, 1, 0);
        let request = WireRequest::Submit(vec![record.clone()]);
        let bytes = bcs::to_bytes(&request).unwrap();
        match bcs::from_bytes::<WireRequest>(&bytes).unwrap() {
            WireRequest::Submit(back) => assert_eq!(back, vec![record]),
            other => panic!("decoded as {other:?}"),
        }
    }
}
