//! A sync request frame as the node's codec reads it (length prefix, bound,
//! canonical body, protocol rules); an accepted request re-frames identically.
#![no_main]
use futures::executor::block_on;
use futures::io::Cursor;
use kpl_node::net::wire::{check_request, read_frame, write_frame, SyncRequest, MAX_REQUEST_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let read = block_on(read_frame::<SyncRequest, _>(
        &mut Cursor::new(data),
        MAX_REQUEST_BYTES,
    ));
    if let Ok(req) = read {
        if check_request(&req).is_ok() {
            let mut out = Vec::new();
            block_on(write_frame(
                &mut Cursor::new(&mut out),
                &req,
                MAX_REQUEST_BYTES,
            ))
            .unwrap();
            assert_eq!(out, data[..out.len()], "accepted request does not re-frame");
        }
    }
});
