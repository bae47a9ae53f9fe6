//! A sync response frame as the node's codec reads it; an accepted response
//! re-frames identically and every event in it goes through the event decoder.
#![no_main]
use futures::executor::block_on;
use futures::io::Cursor;
use kpl_node::net::wire::{
    check_response, read_frame, write_frame, SyncResponse, MAX_RESPONSE_BYTES,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let read = block_on(read_frame::<SyncResponse, _>(
        &mut Cursor::new(data),
        MAX_RESPONSE_BYTES,
    ));
    if let Ok(res) = read {
        if check_response(&res).is_ok() {
            let mut out = Vec::new();
            block_on(write_frame(
                &mut Cursor::new(&mut out),
                &res,
                MAX_RESPONSE_BYTES,
            ))
            .unwrap();
            assert_eq!(
                out,
                data[..out.len()],
                "accepted response does not re-frame"
            );
            if let SyncResponse::Events(events) = &res {
                for e in events {
                    let _ = ledger_core::SignedEvent::decode(e);
                }
            }
        }
    }
});
