//! biome-models
