//! openraft's network over libp2p: each Raft RPC is one request-response
//! exchange with the target's node key (looked up in the roster).
// The error types are openraft's, fixed by the traits implemented here.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use libp2p::PeerId;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;

use crate::entry::{NodeId, TypeConfig};
use crate::p2p::{Net, NetError};
use crate::roster::Roster;
use crate::wire::{WireRequest, WireResponse};

#[derive(Clone)]
pub struct Network {
    pub net: Net,
    pub roster: Roster,
}

pub struct PeerClient {
    net: Net,
    target: NodeId,
    peer: Option<PeerId>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> PeerClient {
        PeerClient {
            net: self.net.clone(),
            target,
            peer: self.roster.by_id(target).map(|m| m.peer),
        }
    }
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

#[derive(Debug, thiserror::Error)]
#[error("unexpected response to a Raft request")]
struct UnexpectedResponse;

impl PeerClient {
    async fn call<E: std::error::Error>(
        &self,
        request: WireRequest,
        option: &RPCOption,
    ) -> Result<WireResponse, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>> {
        let peer = self
            .peer
            .ok_or_else(|| RPCError::Unreachable(Unreachable::new(&NetError::Stopped)))?;
        let timeout = option.hard_ttl().max(Duration::from_millis(100));
        match self.net.request(peer, request, timeout).await {
            Ok(WireResponse::Refused(reason)) => {
                Err(RPCError::Network(NetworkError::new(&NetError::Failed {
                    peer,
                    reason,
                })))
            }
            Ok(response) => Ok(response),
            Err(e @ NetError::Timeout(_)) => Err(RPCError::Network(NetworkError::new(&e))),
            Err(e) => Err(RPCError::Unreachable(Unreachable::new(&e))),
        }
    }

    fn remote<T, E: std::error::Error>(
        &self,
        result: Result<T, RaftError<NodeId, E>>,
    ) -> RpcResult<T, E> {
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

fn unexpected<T, E: std::error::Error>() -> RpcResult<T, E> {
    Err(RPCError::Network(NetworkError::new(&UnexpectedResponse)))
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        match self.call(WireRequest::AppendEntries(rpc), &option).await? {
            WireResponse::AppendEntries(r) => self.remote(r),
            _ => unexpected(),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        match self
            .call(WireRequest::InstallSnapshot(rpc), &option)
            .await?
        {
            WireResponse::InstallSnapshot(r) => self.remote(r),
            _ => unexpected(),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        match self.call(WireRequest::Vote(rpc), &option).await? {
            WireResponse::Vote(r) => self.remote(r),
            _ => unexpected(),
        }
    }
}
