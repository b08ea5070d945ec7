//! The permissioned libp2p network: TCP + noise + yamux, a connection
//! allowlist of the chain's node keys in force, a request-response protocol for
//! Raft RPCs, record forwarding and attestation repair, a second one for
//! snapshot messages (which may take minutes to answer), and gossipsub for
//! attestations and cosigned checkpoints (`crate::cosigned`). The swarm runs in its own task; the rest of the node talks
//! to it through [`Net`].
//!
//! Inbound requests are bounded: frames by type (`crate::wire`), streams
//! per connection, requests in hand per peer, and time per request.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use fundtrail_ledger::block::Attestation;
use fundtrail_ledger::codec;
use futures::StreamExt;
use libp2p::allow_block_list::{self, AllowedPeers};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{dial_opts::DialOpts, DialError, ListenError, NetworkBehaviour, SwarmEvent};
use libp2p::{gossipsub, Multiaddr, PeerId, StreamProtocol, Swarm};
use tokio::sync::{mpsc, oneshot};

use crate::cpu::{Section, Timed};
use crate::refusals::Refusals;
use crate::roster::Roster;
use crate::wire::{FrameCodec, WireRequest, WireResponse};

pub const RPC_PROTOCOL: StreamProtocol = StreamProtocol::new("/fundtrail/rpc/1");
pub const SNAPSHOT_PROTOCOL: StreamProtocol = StreamProtocol::new("/fundtrail/snapshot/1");
const REDIAL_EVERY: Duration = Duration::from_secs(2);
/// libp2p's deadline for a request other than a snapshot message, either
/// way: above the longest any caller waits (a forwarded submission, 60 s).
const RPC_DEADLINE: Duration = Duration::from_secs(75);
/// Streams one connection may have open per protocol; more are dropped.
const RPC_STREAMS: usize = 128;
const SNAPSHOT_STREAMS: usize = 4;
/// Requests from one peer this node handles at once; more are refused as
/// busy before they are handled.
const IN_HAND_PER_PEER: usize = 64;

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
/// Receives a gossiped checkpoint note.
pub type CheckpointSink = Arc<dyn Fn(Vec<u8>) + Send + Sync>;

/// Which request-response protocol a message travels on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lane {
    Rpc,
    Snapshot,
}

impl Lane {
    fn of(request: &WireRequest) -> Lane {
        match request {
            WireRequest::InstallSnapshot(_) => Lane::Snapshot,
            _ => Lane::Rpc,
        }
    }
}

enum Command {
    Request {
        peer: PeerId,
        request: WireRequest,
        reply: oneshot::Sender<Result<WireResponse, NetError>>,
    },
    Respond {
        peer: PeerId,
        lane: Lane,
        channel: ResponseChannel<WireResponse>,
        response: WireResponse,
    },
    Publish(Attestation),
    PublishCheckpoint(String),
    Connected(oneshot::Sender<Vec<PeerId>>),
    /// The roster's retired set changed: allow only members in force.
    SyncAllowlist,
    /// Close every connection and refuse all peers for a while.
    StepAside(Duration),
}

/// A handle on the swarm task.
#[derive(Clone)]
pub struct Net {
    commands: mpsc::UnboundedSender<Command>,
}

impl Net {
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

    pub fn publish_checkpoint(&self, note: String) {
        let _ = self.commands.send(Command::PublishCheckpoint(note));
    }

    /// Closes the connections of retired members and refuses them from
    /// now on (the roster says who is retired).
    pub fn sync_allowlist(&self) {
        let _ = self.commands.send(Command::SyncAllowlist);
    }

    /// Closes every connection and refuses every peer for `period`, then
    /// admits the members in force again (`crate::raft::step_aside`).
    pub fn step_aside(&self, period: Duration) {
        let _ = self.commands.send(Command::StepAside(period));
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
    snapshot: request_response::Behaviour<FrameCodec>,
    gossip: gossipsub::Behaviour,
}

impl Behaviour {
    fn lane(&mut self, lane: Lane) -> &mut request_response::Behaviour<FrameCodec> {
        match lane {
            Lane::Rpc => &mut self.rpc,
            Lane::Snapshot => &mut self.snapshot,
        }
    }
}

/// Everything the swarm task needs to start.
pub struct NetConfig {
    pub keypair: libp2p::identity::Keypair,
    pub listen: Multiaddr,
    pub peers: Vec<(PeerId, Multiaddr)>,
    pub roster: Roster,
    pub topic: String,
    pub checkpoint_topic: String,
    /// How long a snapshot message may take to answer: the last one is
    /// answered once the whole chain is verified and installed.
    pub snapshot_deadline: Duration,
    pub refusals: Refusals,
}

/// Starts listening and spawns the swarm task.
pub fn spawn(
    config: NetConfig,
    handler: Handler,
    sinks: (AttestationSink, CheckpointSink),
) -> Result<(Net, tokio::task::JoinHandle<()>)> {
    let mut swarm = build_swarm(&config)?;
    swarm
        .listen_on(config.listen.clone())
        .with_context(|| format!("listening on {}", config.listen))?;
    let topic = gossipsub::IdentTopic::new(config.topic.clone());
    let checkpoint_topic = gossipsub::IdentTopic::new(config.checkpoint_topic.clone());
    for t in [&topic, &checkpoint_topic] {
        swarm
            .behaviour_mut()
            .gossip
            .subscribe(t)
            .with_context(|| format!("subscribing to {t}"))?;
    }
    for (peer, addr) in &config.peers {
        swarm.add_peer_address(*peer, addr.clone());
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let task = SwarmTask {
        swarm,
        roster: config.roster,
        peers: config.peers,
        refusals: config.refusals,
        in_hand: HashMap::new(),
        topic,
        checkpoint_topic,
        handler,
        on_attestation: sinks.0,
        on_checkpoint: sinks.1,
        commands: tx.clone(),
        pending: HashMap::new(),
        aside_until: None,
    };
    let join = tokio::spawn(Timed::new(Section::Networking, task.run(rx)));
    Ok((Net { commands: tx }, join))
}

fn build_swarm(config: &NetConfig) -> Result<Swarm<Behaviour>> {
    let mut allow = allow_block_list::Behaviour::<AllowedPeers>::default();
    for member in config.roster.admitted() {
        allow.allow_peer(member.peer);
    }
    let lane = |protocol, deadline, streams| {
        request_response::Behaviour::with_codec(
            FrameCodec::counting(config.refusals.clone()),
            [(protocol, ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(deadline)
                .with_max_concurrent_streams(streams),
        )
    };
    let behaviour = Behaviour {
        allow,
        rpc: lane(RPC_PROTOCOL, RPC_DEADLINE, RPC_STREAMS),
        snapshot: lane(
            SNAPSHOT_PROTOCOL,
            config.snapshot_deadline,
            SNAPSHOT_STREAMS,
        ),
        gossip: gossipsub(&config.keypair)?,
    };
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
        .with_swarm_config(|_| {
            // Connection tasks (transport encryption, multiplexing) count
            // as networking in `fundtrail_cpu_seconds`.
            libp2p::swarm::Config::with_executor(|task| {
                drop(tokio::spawn(Timed::new(Section::Networking, task)));
            })
            .with_idle_connection_timeout(Duration::from_secs(3600))
        })
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
    refusals: Refusals,
    /// Requests each peer has in hand here.
    in_hand: HashMap<PeerId, usize>,
    topic: gossipsub::IdentTopic,
    checkpoint_topic: gossipsub::IdentTopic,
    handler: Handler,
    on_attestation: AttestationSink,
    on_checkpoint: CheckpointSink,
    commands: mpsc::UnboundedSender<Command>,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<WireResponse, NetError>>>,
    /// Until when this node has stepped aside and refuses every peer.
    aside_until: Option<tokio::time::Instant>,
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
        match self.aside_until {
            Some(until) if tokio::time::Instant::now() < until => return,
            Some(_) => {
                self.aside_until = None;
                tracing::info!("back from stepping aside: admitting the consortium's nodes again");
                self.sync_allowlist();
            }
            None => {}
        }
        for (peer, addr) in &self.peers {
            if self.member_in_force(peer) && !self.swarm.is_connected(peer) {
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
                if !self.member_in_force(&peer) {
                    let _ = reply.send(Err(NetError::UnknownPeer(peer)));
                    return;
                }
                let lane = Lane::of(&request);
                let id = self
                    .swarm
                    .behaviour_mut()
                    .lane(lane)
                    .send_request(&peer, request);
                self.pending.insert(id, reply);
            }
            Command::Respond {
                peer,
                lane,
                channel,
                response,
            } => {
                self.handed_back(&peer);
                self.respond(lane, channel, response);
            }
            Command::Publish(a) => self.publish(self.topic.clone(), codec::encode(&a)),
            Command::PublishCheckpoint(note) => {
                self.publish(self.checkpoint_topic.clone(), note.into_bytes())
            }
            Command::Connected(tx) => {
                let _ = tx.send(self.swarm.connected_peers().copied().collect());
            }
            Command::SyncAllowlist => self.sync_allowlist(),
            Command::StepAside(period) => self.step_aside(period),
        }
    }

    /// Gossips `data` on `topic`. Publishing fails while no peer is
    /// subscribed; what gossip misses is made up elsewhere (attestation
    /// repair pulls by height, and a node signs its head again soon).
    fn publish(&mut self, topic: gossipsub::IdentTopic, data: Vec<u8>) {
        let _ = self.swarm.behaviour_mut().gossip.publish(topic, data);
    }

    /// Whether `peer` is a consortium node whose key is in force.
    fn member_in_force(&self, peer: &PeerId) -> bool {
        self.roster
            .by_peer(peer)
            .is_some_and(|m| self.roster.in_force(&m))
    }

    fn step_aside(&mut self, period: Duration) {
        self.aside_until = Some(tokio::time::Instant::now() + period);
        for m in self.roster.admitted() {
            self.swarm.behaviour_mut().allow.disallow_peer(m.peer);
        }
    }

    fn sync_allowlist(&mut self) {
        if self.aside_until.is_some() {
            return;
        }
        for m in self.roster.admitted() {
            let allow = &mut self.swarm.behaviour_mut().allow;
            if self.roster.in_force(&m) {
                if allow.allow_peer(m.peer) {
                    tracing::info!(org = %m.org, node = m.id, "node key enrolled: connections allowed");
                }
            } else if allow.disallow_peer(m.peer) {
                tracing::warn!(org = %m.org, node = m.id, "node key out of force: connections closed");
            }
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Rpc(e)) => self.on_rpc(Lane::Rpc, e),
            SwarmEvent::Behaviour(BehaviourEvent::Snapshot(e)) => self.on_rpc(Lane::Snapshot, e),
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message {
                message,
                ..
            })) => {
                if message.topic == self.checkpoint_topic.hash() {
                    (self.on_checkpoint)(message.data);
                } else if let Ok(a) = codec::decode::<Attestation>("attestation", &message.data) {
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

    fn on_rpc(&mut self, lane: Lane, event: request_response::Event<WireRequest, WireResponse>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.serve(peer, lane, request, channel),
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
            Event::InboundFailure {
                peer,
                error: error @ request_response::InboundFailure::Timeout,
                ..
            } => self.refusals.refuse(&peer.to_string(), "timeout", &error),
            _ => {}
        }
    }

    fn respond(
        &mut self,
        lane: Lane,
        channel: ResponseChannel<WireResponse>,
        response: WireResponse,
    ) {
        // Fails only if the peer gave up waiting; nothing is left to do.
        let _ = self
            .swarm
            .behaviour_mut()
            .lane(lane)
            .send_response(channel, response);
    }

    /// Counts a request as in hand from `peer`; false when the peer already
    /// has as many in hand as it may.
    fn take_in_hand(&mut self, peer: PeerId) -> bool {
        let n = self.in_hand.entry(peer).or_default();
        if *n >= IN_HAND_PER_PEER {
            return false;
        }
        *n += 1;
        true
    }

    fn handed_back(&mut self, peer: &PeerId) {
        if let Some(n) = self.in_hand.get_mut(peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.in_hand.remove(peer);
            }
        }
    }

    fn serve(
        &mut self,
        peer: PeerId,
        lane: Lane,
        request: WireRequest,
        channel: ResponseChannel<WireResponse>,
    ) {
        if !self.member_in_force(&peer) {
            self.refusals.refuse(
                &peer.to_string(),
                "outsider",
                &"not a consortium node in force",
            );
            let response = WireResponse::Refused("not a consortium node".into());
            return self.respond(lane, channel, response);
        }
        if lane != Lane::of(&request) {
            self.refusals.refuse(
                &peer.to_string(),
                "lane",
                &"request sent on the wrong protocol",
            );
            let response = WireResponse::Refused("wrong protocol for this request".into());
            return self.respond(lane, channel, response);
        }
        if !self.take_in_hand(peer) {
            self.refusals.refuse(
                &peer.to_string(),
                "busy",
                &format!("more than {IN_HAND_PER_PEER} requests in hand"),
            );
            let response = WireResponse::Refused("busy".into());
            return self.respond(lane, channel, response);
        }
        let reply = (self.handler)(peer, request);
        let commands = self.commands.clone();
        tokio::spawn(async move {
            let response = reply.await;
            let _ = commands.send(Command::Respond {
                peer,
                lane,
                channel,
                response,
            });
        });
    }
}
