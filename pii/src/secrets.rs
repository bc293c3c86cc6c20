//! High-confidence credential detection (API keys, tokens, private key blocks).
