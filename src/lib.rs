//! biome
