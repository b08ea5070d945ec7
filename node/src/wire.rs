//! The request-response wire format: each message is one frame, a 4-byte
//! big-endian length followed by the BCS encoding (the ledger's canonical
//! encoding, so records cross the wire in the bytes they are hashed in).

use std::io;

use async_trait::async_trait;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response;
use libp2p::StreamProtocol;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::p2p::{WireRequest, WireResponse};

/// Large enough for a snapshot chunk or a full append-entries batch.
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone, Copy, Debug, Default)]
pub struct FrameCodec;

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

async fn read_frame<T, M>(io: &mut T) -> io::Result<M>
where
    T: AsyncRead + Unpin + Send,
    M: DeserializeOwned,
{
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(invalid(format!(
            "frame of {len} bytes exceeds {MAX_FRAME_BYTES}"
        )));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    bcs::from_bytes(&buf).map_err(invalid)
}

async fn write_frame<T, M>(io: &mut T, message: &M) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
    M: Serialize,
{
    let bytes = bcs::to_bytes(message).map_err(invalid)?;
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(invalid(format!(
            "message of {} bytes is too large",
            bytes.len()
        )));
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
        read_frame(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<WireResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
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
        write_frame(io, &request).await
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
        write_frame(io, &response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_the_wire_encoding() {
        let kit = fundtrail_contracts::testkit::Kit::new(3);
        let body = fundtrail_contracts::testkit::bodies::grant(
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
