//! A hostile peer for end-to-end tests: a libp2p client holding a real
//! genesis node key (so the allowlist lets it in) that speaks the node's
//! wire protocol, and can also send raw bytes where a frame belongs and
//! flood a node with concurrent requests.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use fundtrail_ledger::crypto::{Keypair, PublicKey};
use fundtrail_node::p2p::{RPC_PROTOCOL, SNAPSHOT_PROTOCOL};
use fundtrail_node::wire::{FrameCodec, WireRequest, WireResponse};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm};

/// How long one exchange may take before the test gives up on it.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(60);

/// Writes a request's bytes as they are, with no framing, and reads
/// whatever comes back.
#[derive(Clone, Default)]
pub struct RawCodec;

#[async_trait]
impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut out = Vec::new();
        io.read_to_end(&mut out).await?;
        Ok(out)
    }

    async fn read_response<T>(&mut self, p: &StreamProtocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read_request(p, io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        bytes: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&bytes).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
        bytes: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.write_request(p, io, bytes).await
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    rpc: request_response::Behaviour<FrameCodec>,
    snapshot: request_response::Behaviour<FrameCodec>,
    raw: request_response::Behaviour<RawCodec>,
}

/// What a flood of requests came to.
#[derive(Debug, Default)]
pub struct Flood {
    pub answered: usize,
    pub refused: usize,
    pub failed: usize,
}

pub struct HostilePeer {
    swarm: Swarm<Behaviour>,
    target: PeerId,
}

fn peer_id(key: &PublicKey) -> Result<PeerId> {
    let ed = libp2p::identity::ed25519::PublicKey::try_from_bytes(&key.0)?;
    Ok(libp2p::identity::PublicKey::from(ed).to_peer_id())
}

fn behaviour() -> Behaviour {
    // Far more streams than a node takes, so the node's limits are what
    // is tested.
    let config = || {
        request_response::Config::default()
            .with_request_timeout(EXCHANGE_LIMIT)
            .with_max_concurrent_streams(20_000)
    };
    Behaviour {
        rpc: request_response::Behaviour::with_codec(
            FrameCodec::default(),
            [(RPC_PROTOCOL, ProtocolSupport::Outbound)],
            config(),
        ),
        snapshot: request_response::Behaviour::with_codec(
            FrameCodec::default(),
            [(SNAPSHOT_PROTOCOL, ProtocolSupport::Outbound)],
            config(),
        ),
        raw: request_response::Behaviour::with_codec(
            RawCodec,
            [(RPC_PROTOCOL, ProtocolSupport::Outbound)],
            config(),
        ),
    }
}

impl HostilePeer {
    /// Connects to the node with `target` key at `address`, as the node
    /// whose key is `key`.
    pub async fn connect(key: &Keypair, target: &PublicKey, address: &str) -> Result<HostilePeer> {
        let identity = libp2p::identity::Keypair::ed25519_from_bytes(key.secret_bytes())?;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(identity)
            .with_tokio()
            .with_tcp(
                libp2p::tcp::Config::default().nodelay(true),
                libp2p::noise::Config::new,
                || {
                    let mut yamux = libp2p::yamux::Config::default();
                    yamux.set_max_num_streams(20_000);
                    yamux
                },
            )?
            .with_behaviour(|_| behaviour())?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
            .build();
        let target = peer_id(target)?;
        let address: Multiaddr = address.parse().context("target address")?;
        swarm.add_peer_address(target, address.clone());
        swarm.dial(address)?;
        let connected = tokio::time::timeout(EXCHANGE_LIMIT, async {
            loop {
                match swarm.select_next_some().await {
                    SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == target => {
                        return Ok(())
                    }
                    SwarmEvent::OutgoingConnectionError { error, .. } => {
                        bail!("connecting failed: {error}")
                    }
                    _ => {}
                }
            }
        });
        connected.await.context("connecting timed out")??;
        Ok(HostilePeer { swarm, target })
    }

    /// Sends one request on the protocol its kind travels on and waits for
    /// the answer.
    pub async fn request(&mut self, request: WireRequest) -> Result<WireResponse> {
        let target = self.target;
        let behaviour = self.swarm.behaviour_mut();
        let id = match request {
            WireRequest::InstallSnapshot(_) => behaviour.snapshot.send_request(&target, request),
            _ => behaviour.rpc.send_request(&target, request),
        };
        let mut outcomes = self.collect(&[id]).await?;
        outcomes.pop().context("one outcome")?
    }

    /// Sends `bytes` where a frame belongs; returns the node's answer, or
    /// the error the exchange ended with.
    pub async fn raw(&mut self, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
        let target = self.target;
        let id = self.swarm.behaviour_mut().raw.send_request(&target, bytes);
        let deadline = tokio::time::Instant::now() + EXCHANGE_LIMIT;
        loop {
            let event = tokio::time::timeout_at(deadline, self.swarm.select_next_some())
                .await
                .map_err(|_| "no answer".to_string())?;
            if let SwarmEvent::Behaviour(BehaviourEvent::Raw(e)) = event {
                match e {
                    request_response::Event::Message {
                        message:
                            request_response::Message::Response {
                                request_id,
                                response,
                            },
                        ..
                    } if request_id == id => return Ok(response),
                    request_response::Event::OutboundFailure {
                        request_id, error, ..
                    } if request_id == id => return Err(error.to_string()),
                    _ => {}
                }
            }
        }
    }

    /// Sends `n` requests at once and counts how they ended: answered,
    /// refused by the node, or failed in transport.
    pub async fn flood(&mut self, n: usize, request: impl Fn() -> WireRequest) -> Result<Flood> {
        let target = self.target;
        let ids: Vec<OutboundRequestId> = (0..n)
            .map(|_| {
                self.swarm
                    .behaviour_mut()
                    .rpc
                    .send_request(&target, request())
            })
            .collect();
        let mut flood = Flood::default();
        for outcome in self.collect(&ids).await? {
            match outcome {
                Ok(WireResponse::Refused(_)) => flood.refused += 1,
                Ok(_) => flood.answered += 1,
                Err(_) => flood.failed += 1,
            }
        }
        Ok(flood)
    }

    /// Drives the swarm until every request in `ids` has an outcome.
    async fn collect(&mut self, ids: &[OutboundRequestId]) -> Result<Vec<Result<WireResponse>>> {
        let mut outcomes: Vec<Option<Result<WireResponse>>> = ids.iter().map(|_| None).collect();
        let slot = |id: &OutboundRequestId| ids.iter().position(|i| i == id);
        let mut left = ids.len();
        let deadline = tokio::time::Instant::now() + EXCHANGE_LIMIT * 2;
        while left > 0 {
            let event = tokio::time::timeout_at(deadline, self.swarm.select_next_some())
                .await
                .context("the node did not answer every request in time")?;
            let (id, outcome) = match event {
                SwarmEvent::Behaviour(BehaviourEvent::Rpc(e) | BehaviourEvent::Snapshot(e)) => {
                    match e {
                        request_response::Event::Message {
                            message:
                                request_response::Message::Response {
                                    request_id,
                                    response,
                                },
                            ..
                        } => (request_id, Ok(response)),
                        request_response::Event::OutboundFailure {
                            request_id, error, ..
                        } => (request_id, Err(anyhow::anyhow!("{error}"))),
                        _ => continue,
                    }
                }
                _ => continue,
            };
            if let Some(i) = slot(&id) {
                if outcomes[i].replace(outcome).is_none() {
                    left -= 1;
                }
            }
        }
        Ok(outcomes.into_iter().flatten().collect())
    }
}
