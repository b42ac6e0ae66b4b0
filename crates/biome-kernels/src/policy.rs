//! The one policy that decides whether a fused op runs.
//!
//! By default every fused op runs wherever it can. The environment switches one off for a
//! whole process (`BIOME_FUSED_RNN=0`, `BIOME_FUSED_CNN=0`, `BIOME_FUSED_LOOKUP=0`,
//! `BIOME_FUSED_ADAM=0`, `BIOME_FUSED_CUBE_RNN=0`, `BIOME_FUSED_GELU=0`,
//! `BIOME_FUSED_SOFTMAX=0`, `BIOME_FUSED_LAYER_NORM=0`: A/B measurements, or an escape hatch); they are read once, the first
//! time any op asks. [`with_fused_ops`] and [`composed_only`] override them for the calls made
//! inside a closure on the calling thread, which is where every entry point of this crate
//! decides (the fused ops may then use other threads themselves): tests compare the two paths
//! with them, and a benchmark can time both in one process.

use std::cell::Cell;
use std::sync::OnceLock;

/// A fused op that can be switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FusedOp {
    /// The masked LSTM/GRU ([`crate::recurrence`]).
    Recurrence,
    /// The masked CNN encoder ([`crate::cnn`]).
    Cnn,
    /// The embedding lookup without autodiff ([`crate::lookup`]).
    Lookup,
    /// The one-pass Adam update ([`crate::adam`]).
    Adam,
    /// The fused recurrence cell of the cube (wgpu) backends ([`crate::cube`]): one kernel per
    /// time step for the gates and the masked state update.
    CubeRecurrence,
    /// The exact GELU, forward and backward ([`crate::gelu`]).
    Gelu,
    /// The attention softmax with its scale and key mask, forward and backward
    /// ([`crate::softmax`]).
    Softmax,
    /// LayerNorm, forward and backward ([`crate::layer_norm`]).
    LayerNorm,
}

impl FusedOp {
    /// Every fused op.
    pub const ALL: [FusedOp; 8] = [
        Self::Recurrence,
        Self::Cnn,
        Self::Lookup,
        Self::Adam,
        Self::CubeRecurrence,
        Self::Gelu,
        Self::Softmax,
        Self::LayerNorm,
    ];

    /// The environment variable that switches the op off when it is `0`.
    pub fn env_var(self) -> &'static str {
        match self {
            Self::Recurrence => "BIOME_FUSED_RNN",
            Self::Cnn => "BIOME_FUSED_CNN",
            Self::Lookup => "BIOME_FUSED_LOOKUP",
            Self::Adam => "BIOME_FUSED_ADAM",
            Self::CubeRecurrence => "BIOME_FUSED_CUBE_RNN",
            Self::Gelu => "BIOME_FUSED_GELU",
            Self::Softmax => "BIOME_FUSED_SOFTMAX",
            Self::LayerNorm => "BIOME_FUSED_LAYER_NORM",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of fused ops, as bits (eight ops fill it: widen it for a ninth).
type OpSet = u8;

fn set_of(ops: &[FusedOp]) -> OpSet {
    ops.iter().fold(0, |set, op| set | op.bit())
}

/// The ops the environment leaves on (anything but `0` leaves an op on), read once.
fn from_environment() -> OpSet {
    static ENABLED: OnceLock<OpSet> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        let on: Vec<FusedOp> = FusedOp::ALL
            .into_iter()
            .filter(|op| std::env::var(op.env_var()).map_or(true, |v| v != "0"))
            .collect();
        set_of(&on)
    })
}

thread_local! {
    /// The ops a [`with_fused_ops`] scope on this thread allows; `None` outside any scope.
    static OVERRIDE: Cell<Option<OpSet>> = const { Cell::new(None) };
}

/// Whether `op` may run here and now: the innermost [`with_fused_ops`] scope of this thread
/// decides, else the environment.
pub fn is_enabled(op: FusedOp) -> bool {
    let set = OVERRIDE.with(Cell::get).unwrap_or_else(from_environment);
    set & op.bit() != 0
}

/// Puts the previous override back when a scope ends, also when it ends by a panic.
struct Restore(Option<OpSet>);

impl Drop for Restore {
    fn drop(&mut self) {
        OVERRIDE.with(|o| o.set(self.0));
    }
}

/// Runs `f` with exactly `ops` allowed on this thread (whatever the environment says); scopes
/// nest, the innermost wins.
pub fn with_fused_ops<R>(ops: &[FusedOp], f: impl FnOnce() -> R) -> R {
    let _restore = Restore(OVERRIDE.with(|o| o.replace(Some(set_of(ops)))));
    f()
}

/// Runs `f` with every fused op switched off on this thread: the composed tensor-op paths run.
pub fn composed_only<R>(f: impl FnOnce() -> R) -> R {
    with_fused_ops(&[], f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_override_nest_and_restore() {
        let outside: Vec<bool> = FusedOp::ALL.iter().map(|&op| is_enabled(op)).collect();
        composed_only(|| {
            assert!(FusedOp::ALL.iter().all(|&op| !is_enabled(op)));
            with_fused_ops(&[FusedOp::Cnn], || {
                assert!(is_enabled(FusedOp::Cnn));
                assert!(!is_enabled(FusedOp::Recurrence));
            });
            assert!(!is_enabled(FusedOp::Cnn));
        });
        let after: Vec<bool> = FusedOp::ALL.iter().map(|&op| is_enabled(op)).collect();
        assert_eq!(outside, after);
    }

    #[test]
    fn a_panicking_scope_restores_the_override() {
        let result = std::panic::catch_unwind(|| composed_only(|| panic!("inside")));
        assert!(result.is_err());
        assert_eq!(OVERRIDE.with(Cell::get), None);
    }

    #[test]
    fn every_op_has_its_own_variable() {
        let mut names: Vec<&str> = FusedOp::ALL.iter().map(|op| op.env_var()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FusedOp::ALL.len());
    }
}
