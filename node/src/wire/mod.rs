//! Everything nodes send one another: the request and response messages
//! (`message`) and the bounded, length-prefixed BCS frames that carry them
//! (`frame`). The order of variants and fields here is the wire format;
//! `node/testdata/wire_vectors.json` pins it, one vector per variant.

mod frame;
mod message;
#[cfg(test)]
mod samples;
#[cfg(test)]
mod vectors;

pub use frame::{
    FrameCodec, ENTRIES_PER_APPEND, FORWARD_LIMIT, MAX_FRAME_BYTES, SNAPSHOT_CHUNK_LIMIT,
};
pub use message::{
    DisclosureRequest, DisclosureResponse, Receipt, SubmitError, VaultEntry, WireRequest,
    WireResponse,
};
