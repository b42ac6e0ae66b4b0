//! biome-modules
