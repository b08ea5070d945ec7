//! `fundtrail run`: wires one node together — chain store, libp2p network,
//! Raft, submission, attestations, vault and the HTTP API — and runs it
//! until SIGTERM or Ctrl-C, then shuts down in order.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use fundtrail_ledger::block::Attestation;
use fundtrail_ledger::crypto::{Keypair, PublicKey};
use fundtrail_ledger::types::Height;
use libp2p::{Multiaddr, PeerId};
use openraft::BasicNode;

use crate::api::{self, Api};
use crate::chain::Chain;
use crate::config::{ApiTransport, NodeConfig};
use crate::cosigned::Cosigned;
use crate::entry::NodeId;
use crate::metrics::Metrics;
use crate::p2p::{self, Net, NetConfig, Reply};
use crate::raft::inbound::{Inbound, Refusal};
use crate::raft::install_quiet::InstallQuiet;
use crate::raft::log_store::LogStore;
use crate::raft::network::Network;
use crate::raft::snapshot_receive::SnapshotReceiver;
use crate::raft::state_machine::StateMachine;
use crate::raft::Raft;
use crate::refusals::Refusals;
use crate::roster::{self, Member, Roster};
use crate::submit::Submitter;
use crate::vault::{FileKeys, Vault, VaultKeys};
use crate::wire::{WireRequest, WireResponse};

/// Heights asked for per attestation-repair request.
const REPAIR_SPAN: u64 = 256;
const REPAIR_EVERY: Duration = Duration::from_secs(2);
/// How long a holder waits to have applied the block of a disclosure it is
/// asked to serve.
const DISCLOSE_APPLY_WAIT: Duration = Duration::from_secs(10);

/// The vault key source named in `[vault]`: the key files, read before
/// anything else opens so a missing or exposed key stops the node at once.
fn load_vault_keys(config: &NodeConfig) -> Result<Arc<dyn VaultKeys>> {
    let v = &config.vault;
    let keys = FileKeys::load(&v.key_file, v.cipher, &v.previous_key_files)
        .context("loading the vault keys named in [vault]")?;
    let held: Vec<String> = keys.held().iter().map(|k| k.to_hex()).collect();
    tracing::info!(cipher = %v.cipher, sealing_key = %held[0], older_keys = ?&held[1..], "vault keys loaded");
    Ok(Arc::new(keys))
}

/// What inbound requests are served by, once the node is up.
struct Services {
    raft: Raft,
    install_quiet: Arc<InstallQuiet<Raft>>,
    inbound: Inbound,
    snapshots: SnapshotReceiver,
    refusals: Refusals,
    submitter: Submitter,
    chain: Arc<Chain>,
    vault: Vault,
    roster: Roster,
}

pub async fn run(config: NodeConfig) -> Result<()> {
    name_signature_threads();
    let genesis = config.load_genesis()?;
    let node_key = Arc::new(crate::keys::read(&config.node_key)?);
    let roster = Roster::from_genesis(&genesis)?;
    let vault_keys = load_vault_keys(&config)?;
    let chain = Arc::new(
        Chain::open_tuned(&config.data_dir, &genesis, &config.store.tuning())
            .with_context(|| format!("opening data directory {}", config.data_dir.display()))?,
    );
    roster.learn(&chain.membership());
    roster.expect(config.peers.iter().map(|p| p.node_key))?;
    let me = this_node(&config, &node_key.public(), &roster)?;
    tracing::info!(org = %me.org, node_id = me.id, height = %chain.head().height, "chain opened");

    let services: Arc<OnceLock<Services>> = Arc::new(OnceLock::new());
    let metrics = Arc::new(Metrics::default());
    let refusals = Refusals::new(metrics.clone());
    let (checkpoint_tx, checkpoint_rx) = tokio::sync::mpsc::unbounded_channel();
    let (net, net_task) = start_network(
        &config,
        &node_key,
        &roster,
        &chain,
        &refusals,
        services.clone(),
        checkpoint_tx,
    )?;
    let cosigned = Arc::new(Cosigned::new(
        chain.clone(),
        node_key.clone(),
        me.org.clone(),
    ));
    tokio::spawn(cosign(cosigned.clone(), net.clone(), checkpoint_rx));
    let (attest_tx, mut attest_rx) = tokio::sync::mpsc::unbounded_channel::<Attestation>();
    let state_machine = StateMachine::new(
        chain.clone(),
        node_key.clone(),
        attest_tx,
        metrics.clone(),
        config.data_dir.clone(),
    )?;
    let raft = start_raft(&config, &me, &roster, &chain, &net, state_machine).await?;
    let submitter = Submitter::start(
        chain.clone(),
        raft.clone(),
        net.clone(),
        roster.clone(),
        me.id,
        node_key.clone(),
        config.batch.clone(),
    );
    let vault = Vault::new(chain.store().clone(), me.org.clone(), vault_keys);
    let install_quiet = InstallQuiet::new(
        raft.clone(),
        Duration::from_millis(config.raft.election_timeout_max_ms),
    );
    let inbound = Inbound::new(roster.clone(), chain.genesis().chain_id.clone());
    let snapshots = SnapshotReceiver::new(
        raft.clone(),
        chain.clone(),
        inbound.clone(),
        config.data_dir.clone(),
        config.raft.snapshot_max_bytes,
    );
    let _ = services.set(Services {
        raft: raft.clone(),
        install_quiet,
        inbound,
        snapshots,
        refusals,
        submitter: submitter.clone(),
        chain: chain.clone(),
        vault: vault.clone(),
        roster: roster.clone(),
    });

    let gossip = net.clone();
    tokio::spawn(async move {
        while let Some(a) = attest_rx.recv().await {
            gossip.publish(a);
        }
    });
    tokio::spawn(repair_attestations(
        chain.clone(),
        net.clone(),
        node_key.clone(),
    ));
    tokio::spawn(crate::raft::membership::reconcile(
        raft.clone(),
        config.clone(),
        roster.clone(),
    ));
    // Twice the longest election timeout: past the followers' leader
    // lease, so they may elect another while this node is away.
    tokio::spawn(crate::raft::step_aside::watch(
        raft.clone(),
        net.clone(),
        Duration::from_millis(2 * config.raft.election_timeout_max_ms),
    ));
    tokio::spawn(crate::raft::membership::follow_chain(
        chain.clone(),
        roster.clone(),
        net.clone(),
    ));

    let access_log = crate::access_log::AccessLog::open(
        &crate::access_log::file_in(&config.data_dir),
        &chain.genesis().chain_id,
        node_key.public(),
    )?;
    let gate = Arc::new(crate::access::Gate::new(
        chain.store().clone(),
        me.org.clone(),
        config.access.clone(),
        access_log.clone(),
    ));
    let api = Api {
        gate,
        chain: chain.clone(),
        submitter,
        raft: raft.clone(),
        vault,
        net: net.clone(),
        roster: roster.clone(),
        org: me.org.clone(),
        node_key: node_key.clone(),
        cosigned,
        witness: Arc::new(crate::witness::Witness::open(
            &config.data_dir,
            chain.genesis(),
            node_key.clone(),
            &me.org,
        )?),
        metrics,
    };
    let tls = api_tls(&config)?;
    let listener = tokio::net::TcpListener::bind(config.api)
        .await
        .with_context(|| format!("binding the HTTP API to {}", config.api))?;
    tracing::info!(api = %config.api, tls = tls.is_some(), "HTTP API listening");
    let bounds = crate::serve::Bounds {
        max_connections: config.access.max_connections,
        header_read_timeout: Duration::from_millis(config.access.header_read_timeout_ms),
    };
    let fatal = Arc::new(std::sync::Mutex::new(None::<String>));
    let stop = {
        let (raft, fatal) = (raft.clone(), fatal.clone());
        async move {
            tokio::select! {
                () = shutdown_signal() => {}
                error = raft_fatal(raft) => {
                    tracing::error!(%error, "Raft stopped on a fatal error; the node exits");
                    *fatal.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
                }
            }
        }
    };
    crate::serve::serve(listener, tls, api::router(api), bounds, stop).await;

    tracing::info!("shutting down");
    if let Err(e) = access_log.sync() {
        tracing::error!(error = %e, "the access log's last lines could not be fsynced");
    }
    raft.shutdown().await.ok();
    net_task.abort();
    tracing::info!(height = %chain.head().height, "stopped");
    if let Some(error) = fatal.lock().unwrap_or_else(|e| e.into_inner()).take() {
        bail!(
            "Raft stopped: {error}. The node has exited; restart it once the cause (a full \
             disk, say) is fixed and it recovers from its store"
        );
    }
    Ok(())
}

/// Resolves, with the error, once Raft's core has stopped on a fatal
/// error: a log write that failed, on a full disk for instance. The node
/// can then neither commit nor apply, so it exits (non-zero) rather than go
/// on answering from a chain that no longer moves.
async fn raft_fatal(raft: Raft) -> String {
    let mut metrics = raft.metrics();
    loop {
        if let Err(fatal) = &metrics.borrow_and_update().running_state {
            return fatal.to_string();
        }
        if metrics.changed().await.is_err() {
            return "Raft's core has gone".to_string();
        }
    }
}

/// The API's TLS acceptor, or `None` for plain HTTP on loopback, which is
/// logged as a warning.
fn api_tls(config: &NodeConfig) -> Result<Option<tokio_rustls::TlsAcceptor>> {
    match config.tls.transport(config.api)? {
        ApiTransport::Tls {
            cert_file,
            key_file,
        } => {
            let server = crate::tls::server_config(cert_file, key_file)?;
            Ok(Some(tokio_rustls::TlsAcceptor::from(server)))
        }
        ApiTransport::PlainLoopback => {
            tracing::warn!(
                api = %config.api,
                "THE API SERVES PLAIN HTTP ([tls] plain_http_on_loopback): requests and \
                 answers cross loopback unencrypted; for development only"
            );
            Ok(None)
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.ok();
}

/// This node as the roster knows it, or, for a node key the chain has not
/// enrolled yet (a node joining a running consortium), as it will: it
/// waits, without voting, for the leader to add it once the chain does.
fn this_node(config: &NodeConfig, key: &PublicKey, roster: &Roster) -> Result<Member> {
    let Some(me) = roster.by_key(key) else {
        tracing::info!(
            org = %config.org,
            "this node key is not enrolled on the chain held here: joining as a learner, \
             to be added by the leader once the chain enrols the key"
        );
        return Ok(Member {
            id: roster::joined_id(key),
            key: *key,
            org: config.org.clone(),
            peer: roster::peer_id(key)?,
            voter: false,
            founding: false,
        });
    };
    if me.org != config.org {
        bail!(
            "node key belongs to {}, config says org {}",
            me.org,
            config.org
        );
    }
    Ok(me)
}

fn libp2p_keypair(key: &Keypair) -> Result<libp2p::identity::Keypair> {
    libp2p::identity::Keypair::ed25519_from_bytes(key.secret_bytes())
        .context("node key is not a valid ed25519 secret")
}

/// Names the rayon pool's threads, which check signatures, so that
/// `fundtrail_cpu_seconds{part="signatures"}` can find them.
fn name_signature_threads() {
    let named = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("{}{i}", crate::cpu::SIGNATURE_THREAD))
        .build_global();
    if let Err(e) = named {
        tracing::warn!(error = %e, "the signature pool was started unnamed: its CPU time counts as other");
    }
}

fn start_network(
    config: &NodeConfig,
    node_key: &Keypair,
    roster: &Roster,
    chain: &Arc<Chain>,
    refusals: &Refusals,
    services: Arc<OnceLock<Services>>,
    checkpoints: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
) -> Result<(Net, tokio::task::JoinHandle<()>)> {
    let mut peers = Vec::new();
    for p in &config.peers {
        let addr: Multiaddr = p
            .address
            .parse()
            .with_context(|| format!("peer address {}", p.address))?;
        if roster.members().iter().all(|m| m.key != p.node_key) {
            tracing::warn!(
                peer = %p.node_key.short(),
                "configured peer is not a node key of the chain held here: trusted as a voter on \
                 this configuration's word until the chain enrols or revokes it"
            );
        }
        peers.push((roster::peer_id(&p.node_key)?, addr));
    }
    let net_config = NetConfig {
        keypair: libp2p_keypair(node_key)?,
        listen: config
            .listen
            .parse()
            .with_context(|| format!("listen address {}", config.listen))?,
        peers,
        roster: roster.clone(),
        topic: format!("fundtrail/{}/attestations", chain.genesis().chain_id),
        checkpoint_topic: format!("fundtrail/{}/checkpoints", chain.genesis().chain_id),
        // The last message waits for the install; a minute more for the
        // transfer of the chunk itself.
        snapshot_deadline: Duration::from_millis(config.raft.snapshot_install_timeout_ms)
            + Duration::from_secs(60),
        refusals: refusals.clone(),
    };
    let handler: p2p::Handler =
        Arc::new(move |peer, request| serve(services.clone(), peer, request));
    let sink_chain = chain.clone();
    let on_attestation: p2p::AttestationSink = Arc::new(move |a| {
        if let Err(e) = sink_chain.accept_attestation(&a) {
            tracing::warn!(error = %e, "storing a gossiped attestation failed");
        }
    });
    let on_checkpoint: p2p::CheckpointSink = Arc::new(move |note| {
        // The cosigning task stops only with the node.
        let _ = checkpoints.send(note);
    });
    p2p::spawn(net_config, handler, (on_attestation, on_checkpoint))
}

/// Signs the head's checkpoint every few seconds and cosigns the peers'
/// (`crate::cosigned`), gossiping each new signature.
async fn cosign(
    cosigned: Arc<Cosigned>,
    net: Net,
    mut received: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let mut tick = tokio::time::interval(crate::cosigned::SIGN_EVERY);
    loop {
        let signed = tokio::select! {
            _ = tick.tick() => {
                let c = cosigned.clone();
                tokio::task::spawn_blocking(move || c.sign_head()).await
            }
            note = received.recv() => {
                let Some(note) = note else { return };
                let c = cosigned.clone();
                tokio::task::spawn_blocking(move || c.receive(&note)).await
            }
        };
        match signed {
            Ok(Ok(Some(note))) => net.publish_checkpoint(note),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cosigning a checkpoint failed"),
            Err(e) => tracing::warn!(error = %e, "the cosigning task failed"),
        }
    }
}

fn serve(services: Arc<OnceLock<Services>>, peer: PeerId, request: WireRequest) -> Reply {
    Box::pin(async move {
        let Some(s) = services.get() else {
            return WireResponse::Refused("node is starting".into());
        };
        let Some(sender) = s.roster.by_peer(&peer).filter(|m| s.roster.in_force(m)) else {
            return WireResponse::Refused("not a consortium node in force".into());
        };
        match s.serve_from(&sender, request).await {
            Ok(response) => response,
            Err(refusal) => {
                s.refusals.refuse(
                    &format!("{} node {}", sender.org, sender.id),
                    refusal.label(),
                    &refusal,
                );
                WireResponse::Refused(refusal.to_string())
            }
        }
    })
}

impl Services {
    /// Serves a request from a consortium node, after checking it may
    /// make it.
    async fn serve_from(
        &self,
        sender: &Member,
        request: WireRequest,
    ) -> Result<WireResponse, Refusal> {
        Ok(match request {
            WireRequest::AppendEntries(r) => {
                tokio::task::block_in_place(|| self.inbound.check_append(sender, &r))?;
                WireResponse::AppendEntries(self.raft.append_entries(r).await)
            }
            WireRequest::Vote(r) => {
                self.inbound.check_vote(sender, &r)?;
                WireResponse::Vote(self.raft.vote(r).await)
            }
            WireRequest::InstallSnapshot(r) => {
                self.inbound.check_snapshot(sender, &r)?;
                let _quiet = self.install_quiet.hold();
                let response = self
                    .snapshots
                    .receive(r)
                    .await
                    .map_err(|e| Refusal::Snapshot(e.to_string()))?;
                WireResponse::InstallSnapshot(Ok(response))
            }
            WireRequest::Submit(records) => {
                if records.len() > crate::submit::MAX_FORWARDED_RECORDS {
                    return Err(Refusal::Limit(format!(
                        "{} records forwarded at once; at most {}",
                        records.len(),
                        crate::submit::MAX_FORWARDED_RECORDS
                    )));
                }
                WireResponse::Submit(self.submitter.serve_forwarded(records).await)
            }
            WireRequest::Attestations { from, to } => {
                WireResponse::Attestations(stored_attestations(&self.chain, from, to))
            }
            WireRequest::Disclose(r) => {
                // Committed before the requester asked, so at most a moment
                // from applied here.
                self.chain
                    .applied_through(r.height, DISCLOSE_APPLY_WAIT)
                    .await;
                // Reads the chain and the vault, and fsyncs the fetch it serves.
                let served = tokio::task::block_in_place(|| self.vault.serve(&sender.org, &r));
                WireResponse::Disclose(served)
            }
        })
    }
}

fn stored_attestations(chain: &Chain, from: Height, to: Height) -> Vec<Attestation> {
    let to = to.0.min(from.0.saturating_add(REPAIR_SPAN));
    (from.0..=to)
        .flat_map(|h| chain.store().attestations(Height(h)).unwrap_or_default())
        .collect()
}

async fn start_raft(
    config: &NodeConfig,
    me: &Member,
    roster: &Roster,
    chain: &Arc<Chain>,
    net: &Net,
    state_machine: StateMachine,
) -> Result<Raft> {
    let rc = &config.raft;
    let raft_config = openraft::Config {
        cluster_name: chain.genesis().chain_id.to_string(),
        heartbeat_interval: rc.heartbeat_ms,
        election_timeout_min: rc.election_timeout_min_ms,
        election_timeout_max: rc.election_timeout_max_ms,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(rc.snapshot_every),
        max_in_snapshot_log_to_keep: rc.keep_logs,
        snapshot_max_chunk_size: rc.snapshot_chunk_bytes,
        install_snapshot_timeout: rc.snapshot_install_timeout_ms,
        max_payload_entries: crate::wire::ENTRIES_PER_APPEND,
        ..Default::default()
    }
    .validate()
    .context("raft configuration")?;
    let network = Network {
        net: net.clone(),
        roster: roster.clone(),
    };
    let log_store = LogStore::new(chain.clone());
    let raft = Raft::new(
        me.id,
        Arc::new(raft_config),
        network,
        log_store,
        state_machine,
    )
    .await
    .context("starting raft")?;
    // Only the founding voters found the cluster; a node enrolled later is
    // added by the leader.
    if me.voter && me.founding && !raft.is_initialized().await? {
        let members = voter_addresses(config, me, roster)?;
        // Every voter proposes the same membership; whichever is first wins
        // and the others' identical proposals are no-ops.
        if let Err(e) = raft.initialize(members).await {
            tracing::debug!(error = %e, "cluster already initialised");
        }
    }
    Ok(raft)
}

/// The founding voters with their addresses. Every voter must be listed
/// in `peers` (or be this node).
fn voter_addresses(
    config: &NodeConfig,
    me: &Member,
    roster: &Roster,
) -> Result<BTreeMap<NodeId, BasicNode>> {
    let mut out = BTreeMap::new();
    for v in roster.voters().iter().filter(|v| v.founding) {
        let addr = if v.id == me.id {
            config.listen.clone()
        } else {
            config
                .peers
                .iter()
                .find(|p| p.node_key == v.key)
                .map(|p| p.address.clone())
                .with_context(|| format!("no address in peers for the {} node", v.org))?
        };
        out.insert(v.id, BasicNode { addr });
    }
    Ok(out)
}

/// Completes attestations: signs any committed block this node has not
/// attested yet (a crash between commit and attestation, or blocks that
/// arrived in a snapshot), and pulls others' attestations it is missing
/// from its peers, so every block ends up attested by every organisation
/// even if gossip missed some.
async fn repair_attestations(chain: Arc<Chain>, net: Net, node_key: Arc<Keypair>) {
    let mut floor = Height(1);
    loop {
        tokio::time::sleep(REPAIR_EVERY).await;
        let head = chain.head().height;
        while floor <= head && fully_attested(&chain, floor) {
            floor = floor.next();
        }
        if floor > head {
            continue;
        }
        let to = Height(head.0.min(floor.0 + REPAIR_SPAN - 1));
        attest_missing(&chain, &net, &node_key, floor, to);
        for peer in net.connected_peers().await {
            let request = WireRequest::Attestations { from: floor, to };
            if let Ok(WireResponse::Attestations(list)) =
                net.request(peer, request, Duration::from_secs(10)).await
            {
                for a in list {
                    let _ = chain.accept_attestation(&a);
                }
            }
        }
    }
}

fn fully_attested(chain: &Chain, height: Height) -> bool {
    chain.fully_attested(height).unwrap_or_else(|e| {
        tracing::warn!(error = %e, %height, "reading attestations failed");
        false
    })
}

fn attest_missing(chain: &Chain, net: &Net, node_key: &Keypair, from: Height, to: Height) {
    let me = node_key.public();
    for h in from.0..=to.0 {
        let atts = chain.store().attestations(Height(h)).unwrap_or_default();
        if !chain.attests(&me, Height(h)) || atts.iter().any(|a| a.node_key == me) {
            continue;
        }
        let Ok(Some(header)) = chain.store().header(Height(h)) else {
            continue;
        };
        let a = Attestation::sign(node_key, &header.chain_id, header.height, header.hash());
        if chain.store().put_attestation(&a).is_ok() {
            net.publish(a);
        }
    }
}
