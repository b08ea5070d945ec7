//! The permissioned libp2p network: TCP + noise + yamux, a connection
//! allowlist of the genesis node keys, one request-response protocol for
//! Raft RPCs, record forwarding and attestation repair, and gossipsub for
//! attestations. The swarm runs in its own task; the rest of the node talks
//! to it through [`Net`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use fundtrail_ledger::block::Attestation;
use fundtrail_ledger::codec;
use fundtrail_ledger::record::SignedRecord;
use fundtrail_ledger::types::Height;
use futures::StreamExt;
use libp2p::allow_block_list::{self, AllowedPeers};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{dial_opts::DialOpts, DialError, ListenError, NetworkBehaviour, SwarmEvent};
use libp2p::{gossipsub, Multiaddr, PeerId, StreamProtocol, Swarm};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::raft::{NodeId, TypeConfig};
use crate::roster::Roster;
use crate::submit::{Receipt, SubmitError};
use crate::vault::{DisclosureRequest, DisclosureResponse};
use crate::wire::FrameCodec;

const RPC_PROTOCOL: StreamProtocol = StreamProtocol::new("/fundtrail/rpc/1");
const REDIAL_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, Deserialize)]
pub enum WireRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// Records forwarded to the leader; answered once committed.
    Submit(Vec<SignedRecord>),
    /// Attestations this peer holds for heights `from..=to`.
    Attestations {
        from: Height,
        to: Height,
    },
    /// A raw record asked for under an on-chain disclosure.
    Disclose(DisclosureRequest),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum WireResponse {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    Submit(Result<Vec<Receipt>, SubmitError>),
    Attestations(Vec<Attestation>),
    Disclose(DisclosureResponse),
    /// The request was not served (e.g. the peer is not a consortium node).
    Refused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("peer {0} is not a consortium node")]
    UnknownPeer(PeerId),
    #[error("request to {peer} failed: {reason}")]
    Failed { peer: PeerId, reason: String },
    #[error("request to {0} timed out")]
    Timeout(PeerId),
    #[error("network task has stopped")]
    Stopped,
}

pub type Reply = Pin<Box<dyn Future<Output = WireResponse> + Send>>;
/// Serves an inbound request from an allowlisted peer.
pub type Handler = Arc<dyn Fn(PeerId, WireRequest) -> Reply + Send + Sync>;
/// Receives a gossiped attestation.
pub type AttestationSink = Arc<dyn Fn(Attestation) + Send + Sync>;

enum Command {
    Request {
        peer: PeerId,
        request: WireRequest,
        reply: oneshot::Sender<Result<WireResponse, NetError>>,
    },
    Respond {
        channel: ResponseChannel<WireResponse>,
        response: WireResponse,
    },
    Publish(Attestation),
    Connected(oneshot::Sender<Vec<PeerId>>),
}

/// A handle on the swarm task.
#[derive(Clone)]
pub struct Net {
    commands: mpsc::UnboundedSender<Command>,
    local: PeerId,
}

impl Net {
    pub fn local_peer(&self) -> PeerId {
        self.local
    }

    pub async fn request(
        &self,
        peer: PeerId,
        request: WireRequest,
        timeout: Duration,
    ) -> Result<WireResponse, NetError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Request {
                peer,
                request,
                reply,
            })
            .map_err(|_| NetError::Stopped)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(NetError::Stopped),
            Err(_) => Err(NetError::Timeout(peer)),
        }
    }

    pub fn publish(&self, attestation: Attestation) {
        let _ = self.commands.send(Command::Publish(attestation));
    }

    pub async fn connected_peers(&self) -> Vec<PeerId> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Connected(tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    allow: allow_block_list::Behaviour<AllowedPeers>,
    rpc: request_response::Behaviour<FrameCodec>,
    gossip: gossipsub::Behaviour,
}

/// Everything the swarm task needs to start.
pub struct NetConfig {
    pub keypair: libp2p::identity::Keypair,
    pub listen: Multiaddr,
    pub peers: Vec<(PeerId, Multiaddr)>,
    pub roster: Roster,
    pub topic: String,
}

/// Starts listening and spawns the swarm task.
pub fn spawn(
    config: NetConfig,
    handler: Handler,
    on_attestation: AttestationSink,
) -> Result<(Net, tokio::task::JoinHandle<()>)> {
    let mut swarm = build_swarm(&config)?;
    swarm
        .listen_on(config.listen.clone())
        .with_context(|| format!("listening on {}", config.listen))?;
    let topic = gossipsub::IdentTopic::new(config.topic.clone());
    swarm
        .behaviour_mut()
        .gossip
        .subscribe(&topic)
        .context("subscribing to the attestation topic")?;
    for (peer, addr) in &config.peers {
        swarm.add_peer_address(*peer, addr.clone());
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let local = *swarm.local_peer_id();
    let task = SwarmTask {
        swarm,
        roster: config.roster,
        peers: config.peers,
        topic,
        handler,
        on_attestation,
        commands: tx.clone(),
        pending: HashMap::new(),
    };
    let join = tokio::spawn(task.run(rx));
    Ok((
        Net {
            commands: tx,
            local,
        },
        join,
    ))
}

/// libp2p's own deadline for a request. Every caller of [`Net::request`]
/// sets a shorter one; this only has to outlast the longest of them, the
/// last message of a Raft snapshot (`[raft] snapshot_install_timeout_ms`).
const REQUEST_BACKSTOP: Duration = Duration::from_secs(60 * 60);

fn build_swarm(config: &NetConfig) -> Result<Swarm<Behaviour>> {
    let mut allow = allow_block_list::Behaviour::<AllowedPeers>::default();
    for member in config.roster.members() {
        allow.allow_peer(member.peer);
    }
    let rpc = request_response::Behaviour::with_codec(
        FrameCodec,
        [(RPC_PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(REQUEST_BACKSTOP),
    );
    let gossip = gossipsub(&config.keypair)?;
    let behaviour = Behaviour { allow, rpc, gossip };
    let swarm = libp2p::SwarmBuilder::with_existing_identity(config.keypair.clone())
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .context("building the TCP/noise/yamux transport")?
        .with_behaviour(move |_| behaviour)
        .context("building the network behaviour")?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    Ok(swarm)
}

fn gossipsub(keypair: &libp2p::identity::Keypair) -> Result<gossipsub::Behaviour> {
    // A consortium has a handful of nodes: keep the mesh small so it forms.
    let config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(Duration::from_millis(500))
        .validation_mode(gossipsub::ValidationMode::Strict)
        .mesh_n_low(1)
        .mesh_n(3)
        .mesh_n_high(8)
        .mesh_outbound_min(1)
        .message_id_fn(|m| {
            gossipsub::MessageId::from(
                fundtrail_ledger::hash::hash_domain("fundtrail/gossip/v1", &m.data).to_hex(),
            )
        })
        .build()
        .context("gossipsub configuration")?;
    gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(keypair.clone()),
        config,
    )
    .map_err(|e| anyhow::anyhow!("gossipsub: {e}"))
}

struct SwarmTask {
    swarm: Swarm<Behaviour>,
    roster: Roster,
    peers: Vec<(PeerId, Multiaddr)>,
    topic: gossipsub::IdentTopic,
    handler: Handler,
    on_attestation: AttestationSink,
    commands: mpsc::UnboundedSender<Command>,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<WireResponse, NetError>>>,
}

impl SwarmTask {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut redial = tokio::time::interval(REDIAL_EVERY);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_event(event),
                command = commands.recv() => match command {
                    Some(c) => self.on_command(c),
                    None => return,
                },
                _ = redial.tick() => self.redial(),
            }
        }
    }

    fn redial(&mut self) {
        for (peer, addr) in &self.peers {
            if !self.swarm.is_connected(peer) {
                let opts = DialOpts::peer_id(*peer)
                    .addresses(vec![addr.clone()])
                    .build();
                let _ = self.swarm.dial(opts);
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Request {
                peer,
                request,
                reply,
            } => {
                if self.roster.by_peer(&peer).is_none() {
                    let _ = reply.send(Err(NetError::UnknownPeer(peer)));
                    return;
                }
                let id = self.swarm.behaviour_mut().rpc.send_request(&peer, request);
                self.pending.insert(id, reply);
            }
            Command::Respond { channel, response } => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .rpc
                    .send_response(channel, response);
            }
            Command::Publish(a) => {
                let topic = self.topic.clone();
                // Publishing fails while no peer is subscribed; attestation
                // repair (pull by height) covers what gossip misses.
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .gossip
                    .publish(topic, codec::encode(&a));
            }
            Command::Connected(tx) => {
                let _ = tx.send(self.swarm.connected_peers().copied().collect());
            }
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Rpc(e)) => self.on_rpc(e),
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message {
                message,
                ..
            })) => {
                if let Ok(a) = codec::decode::<Attestation>("attestation", &message.data) {
                    (self.on_attestation)(a);
                }
            }
            SwarmEvent::IncomingConnectionError {
                error: ListenError::Denied { .. },
                peer_id,
                send_back_addr,
                ..
            } => {
                tracing::warn!(
                    peer = ?peer_id, from = %send_back_addr,
                    "refused connection: peer is not on the consortium allowlist"
                );
            }
            SwarmEvent::OutgoingConnectionError {
                error: DialError::Denied { .. },
                peer_id,
                ..
            } => {
                tracing::warn!(peer = ?peer_id, "refused connection to a peer outside the allowlist");
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                let org = self.roster.by_peer(&peer_id).map(|m| m.org.to_string());
                tracing::debug!(peer = %peer_id, org = ?org, "connected");
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "p2p listening");
            }
            _ => {}
        }
    }

    fn on_rpc(&mut self, event: request_response::Event<WireRequest, WireResponse>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.serve(peer, request, channel),
            Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Failed {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            _ => {}
        }
    }

    fn serve(
        &mut self,
        peer: PeerId,
        request: WireRequest,
        channel: ResponseChannel<WireResponse>,
    ) {
        if self.roster.by_peer(&peer).is_none() {
            tracing::warn!(%peer, "refused request from a peer outside the consortium");
            let response = WireResponse::Refused("not a consortium node".into());
            let _ = self
                .swarm
                .behaviour_mut()
                .rpc
                .send_response(channel, response);
            return;
        }
        let reply = (self.handler)(peer, request);
        let commands = self.commands.clone();
        tokio::spawn(async move {
            let response = reply.await;
            let _ = commands.send(Command::Respond { channel, response });
        });
    }
}
