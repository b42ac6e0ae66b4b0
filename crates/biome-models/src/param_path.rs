//! Dotted parameter paths (`encoder.embedder.tokens.weight`) built while burn walks a module,
//! so rules can pick parameters by regular expression as AllenNLP's did.

/// The stack of module names entered so far.
#[derive(Debug, Default)]
pub(crate) struct PathStack(Vec<String>);

impl PathStack {
    pub fn enter(&mut self, name: &str) {
        self.0.push(name.to_string());
    }

    pub fn exit(&mut self) {
        self.0.pop();
    }

    pub fn path(&self) -> String {
        self.0.join(".")
    }
}

struct PathCollector {
    path: PathStack,
    params: Vec<(burn::module::ParamId, String)>,
}

impl burn::module::ModuleVisitor for PathCollector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn visit_float<const D: usize>(
        &mut self,
        param: &burn::module::Param<burn::tensor::Tensor<D>>,
    ) {
        self.params.push((param.id, self.path.path()));
    }
}

/// Every float parameter of `module` with its dotted path (the paths the `initializer` and
/// `regularizer` rules match), in visit order.
pub fn param_paths<M: burn::module::Module>(module: &M) -> Vec<(burn::module::ParamId, String)> {
    let mut collector = PathCollector {
        path: PathStack::default(),
        params: Vec::new(),
    };
    module.visit(&mut collector);
    collector.params
}
