//! KP Ledger participant node (networking, API, daemon). Built in issue #3.
