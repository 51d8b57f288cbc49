//! SKELETON (helper fills in).
