//! Test helpers (flex backend).

use burn::prelude::*;

pub fn dev() -> Device {
    let d = Device::flex();
    d.seed(7);
    d
}

pub fn ad_dev() -> Device {
    let d = Device::flex().autodiff();
    d.seed(7);
    d
}

pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

pub fn ints2(rows: &[Vec<i64>], device: &Device) -> Tensor<2, Int> {
    let t = rows[0].len();
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), t]), device)
}

pub fn mask2(rows: &[Vec<bool>], device: &Device) -> Tensor<2, Bool> {
    let t = rows[0].len();
    let flat: Vec<bool> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), t]), device)
}

/// Prefix mask from lengths.
pub fn lengths_mask(lengths: &[usize], t: usize, device: &Device) -> Tensor<2, Bool> {
    let rows: Vec<Vec<bool>> = lengths
        .iter()
        .map(|&l| (0..t).map(|i| i < l).collect())
        .collect();
    mask2(&rows, device)
}

pub fn randn<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, burn::tensor::Distribution::Normal(0.0, 1.0), device)
}

pub fn assert_close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "index {i}: {x} vs {y}\n{a:?}\n{b:?}");
    }
}

/// The dotted paths of a module's float parameters, in visiting order.
pub fn param_paths<M: burn::module::Module>(module: &M) -> Vec<String> {
    struct Paths {
        stack: Vec<String>,
        out: Vec<String>,
    }
    impl burn::module::ModuleVisitor for Paths {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.stack.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.stack.pop();
        }
        fn visit_float<const D: usize>(&mut self, _param: &burn::module::Param<Tensor<D>>) {
            self.out.push(self.stack.join("."));
        }
    }
    let mut v = Paths {
        stack: vec![],
        out: vec![],
    };
    module.visit(&mut v);
    v.out
}
