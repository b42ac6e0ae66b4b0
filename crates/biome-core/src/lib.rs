//! biome-core
