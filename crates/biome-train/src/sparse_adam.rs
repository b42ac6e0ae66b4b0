//! Row-wise (lazy) Adam / AMSGrad for `sparse: true` embedding tables.
//!
//! A sparse [`biome_modules::WordEmbedding`] gives no gradient to its `[vocab, dim]` table in
//! training; it records which rows each lookup used ([`biome_modules::sparse`]). After
//! `backward`, [`row_grads`] turns those records into one `[|U|, dim]` gradient per table (the
//! distinct rows `U` of the whole step, several lookups of one table summed), and
//! [`SparseAdam::step`] updates only the rows `U` while burn's optimizer handles every other
//! parameter.
//!
//! Semantics (those of `torch.optim.SparseAdam`, plus AMSGrad and weight decay as burn's
//! `Adam` applies them):
//! - the moments `m`, `v` (and `v_max` with AMSGrad) are kept per row for the whole table;
//!   only the rows in `U` are read and written, so rows absent from a step keep their moments
//!   untouched (they are not decayed: the "lazy" part);
//! - the bias correction uses **one step counter per table**, counting the steps in which the
//!   table received a gradient (as SparseAdam's `state['step']` and burn's `time`), not a
//!   per-row count;
//! - per touched row, exactly burn's Adam formula: `g += weight_decay · w` (after value
//!   clipping), `m = β1 m + (1-β1) g`, `v = β2 v + (1-β2) g²`, AMSGrad `v_max = max(v_max, v)`,
//!   `w -= lr · m · (√(1-β2^t) / (1-β1^t)) / (√v̂ + ε √(1-β2^t))` with `v̂` = `v_max` or `v`.
//!
//! When every row is touched at every step this is burn's dense Adam exactly.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use burn::tensor::{Gradients, IndexingUpdateOp};

use biome_modules::sparse::{take_lookups, unique_ids};

/// The step's gradient of one sparse table: rows `ids` (distinct, ascending) of `grad`.
#[derive(Debug, Clone)]
pub struct RowGrad {
    /// The table parameter.
    pub param: ParamId,
    /// Distinct row ids, ascending.
    pub ids: Vec<i64>,
    /// `[ids.len(), dim]`, on the plain (non-autodiff) device.
    pub grad: Tensor<2>,
}

#[derive(Default)]
struct FloatParams(Vec<(ParamId, usize)>);

impl ModuleVisitor for FloatParams {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push((param.id, D));
    }
}

/// Every float parameter of `model` and its rank.
pub(crate) fn float_params<M: Module>(model: &M) -> Vec<(ParamId, usize)> {
    let mut v = FloatParams::default();
    model.visit(&mut v);
    v.0
}

fn int_tensor(values: Vec<i64>, device: &Device) -> Tensor<1, Int> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// Take the sparse lookups `model` recorded in this step's forward pass and read their
/// gradients from `grads` (call before `GradientsParams::from_grads` consumes them). Several
/// lookups of one table (e.g. both records of a pair) are merged into one gradient over the
/// union of their rows. Lookups whose leaf got no gradient are dropped.
pub fn row_grads<M: Module>(model: &M, grads: &Gradients) -> Vec<RowGrad> {
    let ids: Vec<ParamId> = float_params(model).into_iter().map(|(id, _)| id).collect();
    let mut by_param: BTreeMap<ParamId, Vec<(Vec<i64>, Tensor<2>)>> = BTreeMap::new();
    for lookup in take_lookups(&ids) {
        if let Some(g) = lookup.rows.grad(grads) {
            by_param
                .entry(lookup.param)
                .or_default()
                .push((lookup.ids, g.inner()));
        }
    }
    by_param
        .into_iter()
        .map(|(param, mut parts)| {
            if parts.len() == 1 {
                let (ids, grad) = parts.pop().unwrap();
                return RowGrad { param, ids, grad };
            }
            let all: Vec<i64> = parts.iter().flat_map(|(ids, _)| ids.clone()).collect();
            let (unique, position) = unique_ids(&all);
            let device = parts[0].1.device();
            let dim = parts[0].1.dims()[1];
            let cat = Tensor::cat(parts.into_iter().map(|(_, g)| g).collect(), 0);
            let grad = Tensor::<2>::zeros([unique.len(), dim], &device).select_assign(
                0,
                int_tensor(position, &device),
                cat,
                IndexingUpdateOp::Add,
            );
            RowGrad {
                param,
                ids: unique,
                grad,
            }
        })
        .collect()
}

/// Sum of the squares of the row gradients (for a global gradient-norm clip).
pub fn row_grads_sq_sum(grads: &[RowGrad]) -> Option<Tensor<1>> {
    grads
        .iter()
        .map(|g| g.grad.clone().square().sum())
        .reduce(|a, b| a + b)
}

/// Multiply every row gradient by `factor`.
pub fn scale_row_grads(grads: &mut [RowGrad], factor: f64) {
    for g in grads {
        g.grad = g.grad.clone().mul_scalar(factor);
    }
}

/// Hyper-parameters, those of the dense Adam they accompany.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseAdamConfig {
    /// β1.
    pub beta_1: f32,
    /// β2.
    pub beta_2: f32,
    /// ε.
    pub epsilon: f32,
    /// AMSGrad (row-wise `v_max`).
    pub amsgrad: bool,
    /// L2 penalty added to the touched rows' gradients.
    pub weight_decay: f32,
    /// Clamp each gradient value to `[-c, c]` first (burn's value clipping).
    pub clip_value: Option<f32>,
    /// AdamW: `weight_decay` shrinks the touched rows (`w · (1 − lr · decay)`, before the
    /// update) instead of joining their gradients.
    pub decoupled_weight_decay: bool,
}

impl Default for SparseAdamConfig {
    /// PyTorch's defaults: β (0.9, 0.999), ε 1e-8, no AMSGrad, no decay.
    fn default() -> Self {
        Self {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            amsgrad: false,
            weight_decay: 0.0,
            clip_value: None,
            decoupled_weight_decay: false,
        }
    }
}

/// Per-table state: the step count and the full-size moments.
#[derive(Debug, Clone)]
struct TableState {
    step: u64,
    m: Tensor<2>,
    v: Tensor<2>,
    v_max: Option<Tensor<2>>,
}

/// Row-wise Adam over the sparse tables of a model (see the module docs).
#[derive(Debug, Clone)]
pub struct SparseAdam {
    config: SparseAdamConfig,
    /// Tables with settings of their own (parameter groups).
    table_configs: BTreeMap<ParamId, SparseAdamConfig>,
    tables: BTreeMap<ParamId, TableState>,
}

const MAGIC: &[u8; 8] = b"BIOMESA1";

impl SparseAdam {
    /// No state yet.
    pub fn new(config: SparseAdamConfig) -> Self {
        Self {
            config,
            table_configs: BTreeMap::new(),
            tables: BTreeMap::new(),
        }
    }

    /// Table `param` uses `config` instead of the shared one (its parameter group's settings).
    pub fn with_table_config(mut self, param: ParamId, config: SparseAdamConfig) -> Self {
        self.table_configs.insert(param, config);
        self
    }

    /// Whether any table has state (i.e. some sparse table got a gradient).
    pub fn has_state(&self) -> bool {
        !self.tables.is_empty()
    }

    /// The steps taken for table `param` (0 if it never had a gradient).
    pub fn table_step(&self, param: ParamId) -> u64 {
        self.tables.get(&param).map_or(0, |t| t.step)
    }

    /// Update the rows in `grads` of their tables in `model` (learning rate `lr`).
    pub fn step<M: Module>(&mut self, lr: f64, model: M, grads: Vec<RowGrad>) -> M {
        self.step_grouped(&|_| lr, model, grads)
    }

    /// [`Self::step`] with a learning rate per table (parameter groups, schedules).
    pub fn step_grouped<M: Module>(
        &mut self,
        lr_of: &dyn Fn(ParamId) -> f64,
        model: M,
        grads: Vec<RowGrad>,
    ) -> M {
        if grads.is_empty() {
            return model;
        }
        let mut mapper = RowMapper {
            optim: self,
            lr_of,
            grads: grads.into_iter().map(|g| (g.param, g)).collect(),
        };
        model.map(&mut mapper)
    }

    fn update_table(&mut self, lr: f64, weight: Tensor<2>, g: RowGrad) -> Tensor<2> {
        let c = self.table_configs.get(&g.param).unwrap_or(&self.config);
        let device = weight.device();
        let [rows, dim] = weight.dims();
        // Owned (not cloned) state, so that the row writes below happen in place where the
        // backend can (flex does when the storage is not shared).
        let state = self.tables.remove(&g.param);
        let TableState {
            mut step,
            m: m_all,
            v: v_all,
            v_max: v_max_all,
        } = state.unwrap_or_else(|| TableState {
            step: 0,
            m: Tensor::zeros([rows, dim], &device),
            v: Tensor::zeros([rows, dim], &device),
            v_max: c.amsgrad.then(|| Tensor::zeros([rows, dim], &device)),
        });
        let index = int_tensor(g.ids, &device);
        let mut w_rows = weight.clone().select(0, index.clone());
        let mut grad = g.grad;
        if let Some(clip) = c.clip_value {
            grad = grad.clamp(-clip, clip);
        }
        if c.weight_decay > 0.0 && c.decoupled_weight_decay {
            w_rows = w_rows.mul_scalar(1.0 - lr * c.weight_decay as f64);
        } else if c.weight_decay > 0.0 {
            grad = grad + w_rows.clone().mul_scalar(c.weight_decay);
        }
        let m = m_all
            .clone()
            .select(0, index.clone())
            .mul_scalar(c.beta_1)
            .add(grad.clone().mul_scalar(1.0 - c.beta_1));
        let v = v_all
            .clone()
            .select(0, index.clone())
            .mul_scalar(c.beta_2)
            .add(grad.square().mul_scalar(1.0 - c.beta_2));
        step += 1;
        let t = step as i32;
        let (v_use, v_max_all) = match v_max_all {
            Some(v_max_all) => {
                let new_max = v_max_all
                    .clone()
                    .select(0, index.clone())
                    .max_pair(v.clone());
                let v_max_all = v_max_all.select_assign(
                    0,
                    index.clone(),
                    new_max.clone(),
                    IndexingUpdateOp::Assign,
                );
                (new_max, Some(v_max_all))
            }
            None => (v.clone(), None),
        };
        let bc2_sqrt = (1.0 - c.beta_2.powi(t)).sqrt();
        let factor = bc2_sqrt / (1.0 - c.beta_1.powi(t));
        let update = m
            .clone()
            .mul_scalar(factor)
            .div(v_use.sqrt().add_scalar(c.epsilon * bc2_sqrt));
        let m_all = m_all.select_assign(0, index.clone(), m, IndexingUpdateOp::Assign);
        let v_all = v_all.select_assign(0, index.clone(), v, IndexingUpdateOp::Assign);
        self.tables.insert(
            g.param,
            TableState {
                step,
                m: m_all,
                v: v_all,
                v_max: v_max_all,
            },
        );
        let new_rows = w_rows - update.mul_scalar(lr);
        weight.select_assign(0, index, new_rows, IndexingUpdateOp::Assign)
    }

    /// Serialize the state; tables are keyed by their position among `model`'s float
    /// parameters (visit order), so the bytes load into a rebuilt model.
    pub fn to_bytes<M: Module>(&self, model: &M) -> Vec<u8> {
        let order = float_params(model);
        let mut out = MAGIC.to_vec();
        let tables: Vec<(usize, &TableState)> = order
            .iter()
            .enumerate()
            .filter_map(|(i, (id, _))| self.tables.get(id).map(|s| (i, s)))
            .collect();
        out.extend((tables.len() as u32).to_le_bytes());
        for (index, s) in tables {
            let [rows, dim] = s.m.dims();
            out.extend((index as u32).to_le_bytes());
            out.extend(s.step.to_le_bytes());
            out.push(s.v_max.is_some() as u8);
            out.extend((rows as u64).to_le_bytes());
            out.extend((dim as u64).to_le_bytes());
            for t in [Some(&s.m), Some(&s.v), s.v_max.as_ref()]
                .into_iter()
                .flatten()
            {
                let values = t
                    .clone()
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .expect("f32 moments");
                for x in values {
                    out.extend(x.to_le_bytes());
                }
            }
        }
        out
    }

    /// Restore state written by [`SparseAdam::to_bytes`] for (a rebuild of) `model`.
    pub fn load_bytes<M: Module>(
        &mut self,
        model: &M,
        bytes: &[u8],
        device: &Device,
    ) -> std::result::Result<(), String> {
        let order = float_params(model);
        let mut r = Reader { bytes, at: 0 };
        if r.take(8)? != MAGIC {
            return Err("not a sparse optimizer state".into());
        }
        let count = r.u32()? as usize;
        let mut tables = BTreeMap::new();
        for _ in 0..count {
            let index = r.u32()? as usize;
            let step = r.u64()?;
            let amsgrad = r.take(1)?[0] != 0;
            let rows = r.u64()? as usize;
            let dim = r.u64()? as usize;
            let &(id, d) = order
                .get(index)
                .ok_or_else(|| format!("table {index} is not a parameter of the model"))?;
            if d != 2 {
                return Err(format!("parameter {index} is not a table"));
            }
            let mut tensor = || -> std::result::Result<Tensor<2>, String> {
                let raw = r.take(rows * dim * 4)?;
                let values: Vec<f32> = raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                Ok(Tensor::from_data(
                    TensorData::new(values, [rows, dim]),
                    device,
                ))
            };
            let m = tensor()?;
            let v = tensor()?;
            let v_max = if amsgrad { Some(tensor()?) } else { None };
            tables.insert(id, TableState { step, m, v, v_max });
        }
        if r.at != bytes.len() {
            return Err("trailing bytes in the sparse optimizer state".into());
        }
        self.tables = tables;
        Ok(())
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or("truncated sparse optimizer state")?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
}

struct RowMapper<'a> {
    optim: &'a mut SparseAdam,
    lr_of: &'a dyn Fn(ParamId) -> f64,
    grads: BTreeMap<ParamId, RowGrad>,
}

impl ModuleMapper for RowMapper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if D != 2 {
            return param;
        }
        let Some(g) = self.grads.remove(&param.id) else {
            return param;
        };
        let (optim, lr) = (&mut *self.optim, (self.lr_of)(param.id));
        param.map(|w| {
            let dims = w.dims();
            let require_grad = w.is_require_grad();
            let autodiff = w.is_autodiff();
            let w2: Tensor<2> = w.inner().reshape([dims[0], dims[1]]);
            let new = optim.update_table(lr, w2, g).reshape(dims);
            if autodiff {
                new.autodiff().set_require_grad(require_grad)
            } else {
                new
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use biome_modules::{WordEmbedding, WordEmbeddingConfig};
    use burn::optim::{AdamConfig, GradientsParams};

    fn ad() -> Device {
        let d = Device::flex().autodiff();
        d.seed(3);
        d
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    fn ids(rows: &[Vec<i64>], device: &Device) -> Tensor<2, Int> {
        let flat: Vec<i64> = rows.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [rows.len(), rows[0].len()]), device)
    }

    fn table(sparse: bool, device: &Device) -> WordEmbedding {
        let mut cfg = WordEmbeddingConfig::new(2);
        cfg.sparse = sparse;
        let data: Vec<f32> = (0..12).map(|i| (i as f32 * 0.37).sin()).collect();
        cfg.init_with_weights(TensorData::new(data, [6, 2]), device)
            .unwrap()
    }

    /// loss = Σ coef · e(ids)
    fn loss(emb: &WordEmbedding, batch: &[Vec<i64>], coef: f32, device: &Device) -> Tensor<1> {
        (emb.forward(ids(batch, device)) * coef).sum()
    }

    #[test]
    fn lazy_adam_matches_hand_computation_and_leaves_other_rows_alone() {
        let device = ad();
        let cfg = SparseAdamConfig {
            amsgrad: true,
            weight_decay: 0.1,
            ..Default::default()
        };
        let (b1, b2, eps, wd, lr) = (0.9f64, 0.999f64, 1e-8f64, 0.1f64, 0.01f64);
        let mut emb = table(true, &device);
        let mut optim = SparseAdam::new(cfg);
        let w0 = values(emb.weight.val());
        // Step 1 touches rows 1, 3 (3 twice); step 2 touches rows 3, 4 (and padding 0).
        let steps: [(Vec<Vec<i64>>, f32); 2] =
            [(vec![vec![1, 3, 3]], 1.0), (vec![vec![3, 4, 0]], -2.0)];
        // Host reference, f64.
        let mut w: Vec<f64> = w0.iter().map(|&x| x as f64).collect();
        let (mut m, mut v, mut vmax) = (vec![0f64; 12], vec![0f64; 12], vec![0f64; 12]);
        for (t, (batch, coef)) in steps.iter().enumerate() {
            let grads = loss(&emb, batch, *coef, &device).backward();
            let rg = row_grads(&emb, &grads);
            assert_eq!(rg.len(), 1);
            emb = optim.step(lr, emb, rg);
            let t = (t + 1) as i32;
            let mut count = [0f64; 6];
            for &id in &batch[0] {
                if id != 0 {
                    count[id as usize] += 1.0;
                }
            }
            let touched: Vec<usize> = {
                let mut u: Vec<usize> = batch[0].iter().map(|&i| i as usize).collect();
                u.sort();
                u.dedup();
                u
            };
            for &r in &touched {
                for c in 0..2 {
                    let i = r * 2 + c;
                    let g = count[r] * *coef as f64 + wd * w[i];
                    m[i] = b1 * m[i] + (1.0 - b1) * g;
                    v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                    vmax[i] = vmax[i].max(v[i]);
                    let bc2 = (1.0 - b2.powi(t)).sqrt();
                    let factor = bc2 / (1.0 - b1.powi(t));
                    w[i] -= lr * m[i] * factor / (vmax[i].sqrt() + eps * bc2);
                }
            }
        }
        let got = values(emb.weight.val());
        for (i, (g, want)) in got.iter().zip(&w).enumerate() {
            assert!((*g as f64 - want).abs() < 1e-6, "weight {i}: {g} vs {want}");
        }
        // Untouched rows (2, 5) are bit-identical; padding row 0 stays 0.
        for r in [0usize, 2, 5] {
            assert_eq!(got[r * 2..r * 2 + 2], w0[r * 2..r * 2 + 2], "row {r}");
        }
        assert_eq!(optim.table_step(emb.weight.id), 2);
        let state = &optim.tables[&emb.weight.id];
        let (sm, sv) = (values(state.m.clone()), values(state.v.clone()));
        for r in [2usize, 5] {
            assert_eq!(sm[r * 2..r * 2 + 2], [0.0, 0.0]);
            assert_eq!(sv[r * 2..r * 2 + 2], [0.0, 0.0]);
        }
        for (i, want) in m.iter().enumerate() {
            assert!((sm[i] as f64 - want).abs() < 1e-6, "m {i}");
        }
        // Row 1 was touched at step 1 only: its moments are not decayed at step 2.
        assert!((sm[2] as f64 - (1.0 - b1) * (1.0 + wd * w0[2] as f64)).abs() < 1e-6);
    }

    #[test]
    fn equals_dense_adam_when_every_row_is_touched() {
        let device = ad();
        let batch = vec![vec![1i64, 2, 3, 4, 5, 0], vec![5, 5, 3, 1, 2, 4]];
        let mut dense = table(false, &device);
        let mut sparse = table(true, &device);
        let mut adam = AdamConfig::new()
            .with_amsgrad(true)
            .with_epsilon(1e-8)
            .init();
        let mut optim = SparseAdam::new(SparseAdamConfig {
            amsgrad: true,
            ..Default::default()
        });
        for step in 0..4 {
            let coef = if step % 2 == 0 { 1.5 } else { -0.5 };
            let sq =
                |e: &WordEmbedding| (e.forward(ids(&batch, &device)).powi_scalar(2) * coef).sum();
            let g = GradientsParams::from_grads(sq(&dense).backward(), &dense);
            dense = adam.step(1e-2, dense, g);
            let grads = sq(&sparse).backward();
            let rg = row_grads(&sparse, &grads);
            let rest = GradientsParams::from_grads(grads, &sparse);
            assert!(rest.is_empty(), "the table got a dense gradient");
            sparse = optim.step(1e-2, sparse, rg);
        }
        let (a, b) = (values(dense.weight.val()), values(sparse.weight.val()));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6, "{a:?}\n{b:?}");
        }
    }

    /// A table with settings of its own (its parameter group: AdamW's decoupled decay, its own
    /// learning rate) steps as the dense AdamW with those settings when every row is touched;
    /// the shared settings (no decay) and the other rate are not used for it.
    #[test]
    fn a_table_with_its_group_settings_equals_dense_adamw() {
        let device = ad();
        let batch = vec![vec![1i64, 2, 3, 4, 5, 0], vec![5, 5, 3, 1, 2, 4]];
        let mut dense = table(false, &device);
        let mut sparse = table(true, &device);
        let start = values(sparse.weight.val());
        let mut adam = burn::optim::ModuleOptimizer::from(
            crate::fused_adam::FusedAdamConfig {
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-8,
                amsgrad: true,
                weight_decay: None,
                decoupled_weight_decay: Some(0.5),
            }
            .build(),
        );
        let group = SparseAdamConfig {
            amsgrad: true,
            weight_decay: 0.5,
            decoupled_weight_decay: true,
            ..Default::default()
        };
        let table_id = sparse.weight.id;
        let mut optim =
            SparseAdam::new(SparseAdamConfig::default()).with_table_config(table_id, group);
        let lr_of = |id: ParamId| if id == table_id { 0.05 } else { 99.0 };
        for step in 0..4 {
            let coef = if step % 2 == 0 { 1.5 } else { -0.5 };
            let sq =
                |e: &WordEmbedding| (e.forward(ids(&batch, &device)).powi_scalar(2) * coef).sum();
            let g = GradientsParams::from_grads(sq(&dense).backward(), &dense);
            dense = adam.step(0.05, dense, g);
            let rg = row_grads(&sparse, &sq(&sparse).backward());
            sparse = optim.step_grouped(&lr_of, sparse, rg);
        }
        let (a, b) = (values(dense.weight.val()), values(sparse.weight.val()));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6, "{a:?}\n{b:?}");
        }
        // Rows 1..=5 moved (row 0 is padding).
        let moved = a.iter().zip(&start).filter(|(x, y)| (*x - *y).abs() > 1e-3);
        assert!(moved.count() >= 10, "{a:?}\n{start:?}");
    }

    #[test]
    fn state_round_trips_through_bytes() {
        let device = ad();
        let mut emb = table(true, &device);
        let mut optim = SparseAdam::new(SparseAdamConfig {
            amsgrad: true,
            ..Default::default()
        });
        let grads = loss(&emb, &[vec![2, 4, 4]], 1.0, &device).backward();
        let rg = row_grads(&emb, &grads);
        emb = optim.step(0.1, emb, rg);
        let bytes = optim.to_bytes(&emb);
        // A rebuilt model has new parameter ids: the state maps by position.
        let other = table(true, &device);
        let mut back = SparseAdam::new(optim.config.clone());
        back.load_bytes(&other, &bytes, &device.clone().inner())
            .unwrap();
        assert_eq!(back.table_step(other.weight.id), 1);
        let (a, b) = (
            &optim.tables[&emb.weight.id],
            &back.tables[&other.weight.id],
        );
        assert_eq!(values(a.m.clone()), values(b.m.clone()));
        assert_eq!(values(a.v.clone()), values(b.v.clone()));
        assert_eq!(
            values(a.v_max.clone().unwrap()),
            values(b.v_max.clone().unwrap())
        );
        assert!(
            back.load_bytes(&other, &bytes[..bytes.len() - 1], &device)
                .is_err()
        );
    }
}
