//! The actix actors that own a node's live state: the node manager (resources, queueing,
//! dispatch), the actor registry (names and handles) and one host per user actor. Their
//! handlers delegate to `tasks` and `store`.
//!
//! Invariant: nothing here blocks an executor thread, except a user actor's own sync
//! methods on that actor's own arbiter.

mod cluster;
mod handle;
mod host;
mod job_manager;
mod node_manager;
mod node_table;
mod options;
mod parts;
mod placement_groups;
mod registry;
mod remote;
mod task;

pub(crate) use cluster::{
    ActorStopped, AgentSettings, Ask, AskJobs, CancelRemote, ClusterAgent, HeadId, JobEnded,
    KillRemoteActor, LeaseBlocked, LeaseGuard, LeaseOnHost, LeaseThenQueue, NameRequest, NodeAddr,
    OpenDagChannel, OpenedChannel, Retry, Role, RunRemote, StartWorkerOn, StopAgent, Upcalls,
    WorkerGone, heard, park_stream, random_token, start as start_cluster_agent, wire_resources,
};
pub use handle::ActorCell;
pub use handle::{ActorHandle, RemoteActor};
pub(crate) use handle::{
    create as create_actor, create_async as create_actor_async, get_actor, get_actor_async,
};
pub use host::Method;
pub(crate) use host::{ActorCall, ActorHost, ExitActor, LendInstance, ReturnInstance, Terminate};
pub(crate) use job_manager::{JobManager, pack_dir};
pub(crate) use node_manager::{
    AcquireResources, CancelTask, GpuGrant, ListActive, NodeManager, NodeStats, QueryNode,
    ReleaseResources, ReserveBundles, ReturnBundles, ViewChanged, WorkerStartFailed,
};
pub use node_table::NodeInfo;
pub(crate) use node_table::{nodes_of, sums};
pub use options::{ActorOptions, ActorOptionsBuilder};
pub(crate) use parts::{NodeActors, Parts};
pub(crate) use placement_groups::{
    CreateGroup, FindGroup, Group, ListGroups, PlacementGroups, RemoveGroup,
};
pub use placement_groups::{PlacementGroupState, PlacementStrategy};
pub(crate) use registry::{
    ActorCells, ActorLifecycle, ActorRegistry, ActorState, ListActors, LookupActor, RegisterActor,
    UnregisterActor,
};
pub(crate) use remote::HostedActor;
pub(crate) use remote::build_with_functions;
pub use remote::{Hosted, RemoteClass, build_fingerprint};
pub(crate) use remote::{RemoteCall, hosted, returns_of};
pub(crate) use task::{CancelRunning, TaskActor};
