//! Gossip payloads of the events and checkpoints topics: the message id
//! function (which decodes the event) and the checkpoint note's parsing
//! (note, checkpoint text, feed origin), as the node runs them.
#![no_main]
use kpl_node::net::gossip::{event_message_id, other_message_id, MAX_CHECKPOINT_NOTE_BYTES};
use ledger_core::tlog::checkpoint::{parse_feed_origin, Checkpoint};
use ledger_core::tlog::note::Note;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let id = event_message_id(data);
    if ledger_core::SignedEvent::decode(data).is_err() {
        assert_eq!(id, other_message_id(data));
    }
    if data.len() <= MAX_CHECKPOINT_NOTE_BYTES {
        if let Ok(note) = Note::parse(data) {
            if let Ok(cp) = Checkpoint::from_text(note.text()) {
                let _ = parse_feed_origin(&cp.origin);
            }
        }
    }
});
