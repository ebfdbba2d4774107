//! The grouped feed-forward block of NAR-Former V2: block-diagonal linear
//! layers with a LayerNorm inside each group.

use crate::dropout::dropout;
use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig, Initializer};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// A block-diagonal linear layer: `groups` independent `in/groups -> out/groups`
/// maps, each followed by its own LayerNorm.
#[derive(Module, Debug)]
pub struct GroupedLinearNorm {
    /// `[groups, in/groups, out/groups]`
    pub(crate) weight: Param<Tensor<3>>,
    /// `[groups, 1, out/groups]`
    pub(crate) bias: Param<Tensor<3>>,
    /// LayerNorm scale, `[groups, 1, out/groups]`
    pub(crate) gamma: Param<Tensor<3>>,
    /// LayerNorm shift, `[groups, 1, out/groups]`
    pub(crate) beta: Param<Tensor<3>>,
}

impl GroupedLinearNorm {
    fn new(d_in: usize, d_out: usize, groups: usize, device: &Device) -> Self {
        let (gi, go) = (d_in / groups, d_out / groups);
        let weight = Initializer::XavierUniform { gain: 1.0 }.init_with(
            [groups, gi, go],
            Some(gi),
            Some(go),
            device,
        );
        Self {
            weight,
            bias: Param::from_tensor(Tensor::zeros([groups, 1, go], device)),
            gamma: Param::from_tensor(Tensor::ones([groups, 1, go], device)),
            beta: Param::from_tensor(Tensor::zeros([groups, 1, go], device)),
        }
    }

    /// # Shapes
    /// - x: `[groups, rows, in/groups]`
    /// - output: `[groups, rows, out/groups]`
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let y = x.matmul(self.weight.val()) + self.bias.val();
        let mean = y.clone().mean_dim(2);
        let centered = y - mean;
        let var = centered.clone().powf_scalar(2.0).mean_dim(2);
        let normed = centered / var.add_scalar(1e-5).sqrt();
        normed * self.gamma.val() + self.beta.val()
    }
}

#[derive(Config, Debug)]
pub struct GroupedFfnConfig {
    pub d_model: usize,
    #[config(default = 4)]
    pub expansion: usize,
    #[config(default = 8)]
    pub groups: usize,
    #[config(default = 0.05)]
    pub dropout: f64,
}

impl GroupedFfnConfig {
    pub fn init(&self, device: &Device) -> GroupedFfn {
        let wide = self.d_model * self.expansion;
        GroupedFfn {
            up: GroupedLinearNorm::new(self.d_model, wide, self.groups, device),
            down: GroupedLinearNorm::new(wide, self.d_model, self.groups, device),
            dropout: DropoutConfig::new(self.dropout).init(),
            groups: self.groups,
        }
    }
}

/// Grouped linear H -> 4H, group LayerNorm, ReLU, dropout, grouped linear
/// 4H -> H, group LayerNorm, dropout.
#[derive(Module, Debug)]
pub struct GroupedFfn {
    pub(crate) up: GroupedLinearNorm,
    pub(crate) down: GroupedLinearNorm,
    dropout: Dropout,
    pub(crate) groups: usize,
}

impl GroupedFfn {
    /// # Shapes
    /// - x: `[batch, nodes, d_model]`
    /// - output: `[batch, nodes, d_model]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, nodes, d_model] = x.dims();
        let g = self.groups;
        // [groups, batch*nodes, d_model/groups]
        let x = x.reshape([batch * nodes, g, d_model / g]).swap_dims(0, 1);
        let h = dropout(&self.dropout, relu(self.up.forward(x)));
        let y = dropout(&self.dropout, self.down.forward(h));
        // back to [batch, nodes, d_model]
        y.swap_dims(0, 1).reshape([batch, nodes, d_model])
    }
}
