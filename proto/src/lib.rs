//! wangge.v1 API definitions.
