//! Tests of the BERT encoder (next commit).
