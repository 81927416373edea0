//! Queries end to end.
