//! Gossip payloads of the events and checkpoints topics: the message id
//! function (from the bytes alone: an event's id when they are an event)
//! and the checkpoint note's parsing
//! (note, checkpoint text, feed origin), as the node runs them.
#![no_main]
use kpl_node::net::gossip::{event_message_id, MAX_CHECKPOINT_NOTE_BYTES};
use ledger_core::tlog::checkpoint::{parse_feed_origin, Checkpoint};
use ledger_core::tlog::note::Note;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let id = event_message_id(data);
    if let Ok(ev) = ledger_core::SignedEvent::decode(data) {
        assert_eq!(id.0, ev.id().as_bytes().to_vec());
    }
    if data.len() <= MAX_CHECKPOINT_NOTE_BYTES {
        if let Ok(note) = Note::parse(data) {
            if let Ok(cp) = Checkpoint::from_text(note.text()) {
                let _ = parse_feed_origin(&cp.origin);
            }
        }
    }
});
