//! The file sink (being built).
