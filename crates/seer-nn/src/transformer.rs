//! The Transformer encoder shared by SASRec and BERT4Rec: multi-head self-attention with an
//! additive mask (causal for SASRec, padding-only for BERT4Rec), a GELU feed-forward network,
//! residual connections, pre- or post-LayerNorm, and dropout after the embeddings, on the
//! attention probabilities and on each sub-layer's output.
//!
//! Mirrors `torch.nn.TransformerEncoderLayer` (`norm_first` switches the two layouts) and
//! RecBole's `recbole/model/layers.py` `TransformerEncoder` (post-LN, GELU). Weights are stored
//! `[in, out]` so a projection is one `x · W` without a transpose.
//!
//! # Shapes
//! `B` sequences of `L` positions with hidden size `H` split into `h` heads of `H / h`:
//! input and output `[B, L, H]`, attention mask `[B, 1, L, L]` (0 where a query may look at a
//! key, a large negative number where it may not).

use candle_core::Tensor;
use rand_chacha::ChaCha8Rng;

use super::ops::{attention, dropout, layer_norm, linear};
use super::Params;
use crate::error::Result;

/// Encoder sizes and regularisation.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    /// Hidden size `H`.
    pub hidden: usize,
    /// Number of Transformer blocks.
    pub layers: usize,
    /// Attention heads (`hidden % heads == 0`).
    pub heads: usize,
    /// Feed-forward inner size.
    pub inner: usize,
    /// Dropout on sub-layer outputs (and the embeddings, applied by the model).
    pub dropout: f32,
    /// Dropout on attention probabilities.
    pub attn_dropout: f32,
    /// LayerNorm before each sub-layer (and once at the end) instead of after the residual.
    pub norm_first: bool,
    /// LayerNorm epsilon.
    pub eps: f64,
}

/// `x · W + b` for `x` of any rank (`[.., in]`).
pub struct Linear {
    w: Tensor,
    b: Tensor,
}

impl Linear {
    /// A projection `in → out`, weights N(0, 0.02²), bias 0.
    pub fn new(
        p: &mut Params,
        rng: &mut ChaCha8Rng,
        name: &str,
        i: usize,
        o: usize,
    ) -> Result<Self> {
        Ok(Linear {
            w: p.normal(rng, &format!("{name}.weight"), &[i, o], 0.02)?,
            b: p.constant(&format!("{name}.bias"), &[o], 0.0)?,
        })
    }

    /// Applies the projection.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let i = dims[dims.len() - 1];
        let rows = x.elem_count() / i.max(1);
        let y = linear(&x.reshape((rows, i))?, &self.w, &self.b)?;
        let mut out = dims;
        if let Some(last) = out.last_mut() {
            *last = self.w.dim(1)?;
        }
        Ok(y.reshape(out)?)
    }
}

/// LayerNorm with gain and bias.
pub struct Norm {
    gamma: Tensor,
    beta: Tensor,
    eps: f64,
}

impl Norm {
    /// Gain 1, bias 0.
    pub fn new(p: &mut Params, name: &str, h: usize, eps: f64) -> Result<Self> {
        Ok(Norm {
            gamma: p.constant(&format!("{name}.weight"), &[h], 1.0)?,
            beta: p.constant(&format!("{name}.bias"), &[h], 0.0)?,
            eps,
        })
    }

    /// Normalises over the last dimension.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        layer_norm(x, &self.gamma, &self.beta, self.eps)
    }
}

/// Multi-head self-attention.
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: usize,
}

impl Attention {
    fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        p_drop: f32,
        rng: Option<&mut ChaCha8Rng>,
    ) -> Result<Tensor> {
        let (b, l, h) = x.dims3()?;
        let dh = h / self.heads;
        let split = |t: Tensor| -> Result<Tensor> {
            if self.heads == 1 {
                Ok(t.reshape((b, 1, l, dh))?)
            } else {
                Ok(t.reshape((b, l, self.heads, dh))?
                    .transpose(1, 2)?
                    .contiguous()?)
            }
        };
        let q = split(self.q.forward(x)?)?;
        let k = split(self.k.forward(x)?)?;
        let v = split(self.v.forward(x)?)?;
        let ctx = attention(&q, &k, &v, mask, p_drop, rng)?; // [B, h, L, dh]
        let ctx = if self.heads == 1 {
            ctx.reshape((b, l, h))?
        } else {
            ctx.transpose(1, 2)?.contiguous()?.reshape((b, l, h))?
        };
        self.o.forward(&ctx)
    }
}

/// One block: attention and feed-forward sub-layers with residuals and LayerNorms.
struct Block {
    attn: Attention,
    ff1: Linear,
    ff2: Linear,
    norm1: Norm,
    norm2: Norm,
}

/// A stack of Transformer blocks.
pub struct Encoder {
    cfg: EncoderConfig,
    blocks: Vec<Block>,
    /// Final LayerNorm of the pre-LN layout.
    last: Option<Norm>,
}

impl Encoder {
    /// Creates the encoder's parameters under `name` (`name.0.attn.q.weight`, …).
    pub fn new(
        p: &mut Params,
        rng: &mut ChaCha8Rng,
        name: &str,
        cfg: &EncoderConfig,
    ) -> Result<Self> {
        let h = cfg.hidden;
        let mut blocks = Vec::with_capacity(cfg.layers);
        for i in 0..cfg.layers {
            let n = |s: &str| format!("{name}.{i}.{s}");
            blocks.push(Block {
                attn: Attention {
                    q: Linear::new(p, rng, &n("attn.q"), h, h)?,
                    k: Linear::new(p, rng, &n("attn.k"), h, h)?,
                    v: Linear::new(p, rng, &n("attn.v"), h, h)?,
                    o: Linear::new(p, rng, &n("attn.o"), h, h)?,
                    heads: cfg.heads,
                },
                ff1: Linear::new(p, rng, &n("ff1"), h, cfg.inner)?,
                ff2: Linear::new(p, rng, &n("ff2"), cfg.inner, h)?,
                norm1: Norm::new(p, &n("norm1"), h, cfg.eps)?,
                norm2: Norm::new(p, &n("norm2"), h, cfg.eps)?,
            });
        }
        let last = if cfg.norm_first {
            Some(Norm::new(p, &format!("{name}.norm"), h, cfg.eps)?)
        } else {
            None
        };
        Ok(Encoder {
            cfg: cfg.clone(),
            blocks,
            last,
        })
    }

    /// Runs the stack. `keep` (`[B, L, 1]`, 1 for real positions, 0 for padding) zeroes padded
    /// positions after each block, so padding never leaks into real ones through the
    /// residual stream. `rng` is `Some` in training (dropout on) and `None` at inference.
    pub fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        keep: &Tensor,
        mut rng: Option<&mut ChaCha8Rng>,
    ) -> Result<Tensor> {
        let c = &self.cfg;
        let mut x = x.clone();
        let drop = |t: Tensor, p: f32, rng: &mut Option<&mut ChaCha8Rng>| -> Result<Tensor> {
            match rng {
                Some(r) => dropout(&t, p, r),
                None => Ok(t),
            }
        };
        for b in &self.blocks {
            if c.norm_first {
                let a = b.attn.forward(
                    &b.norm1.forward(&x)?,
                    mask,
                    c.attn_dropout,
                    rng.as_deref_mut(),
                )?;
                x = (x + drop(a, c.dropout, &mut rng)?)?;
                let f = b
                    .ff2
                    .forward(&b.ff1.forward(&b.norm2.forward(&x)?)?.gelu_erf()?)?;
                x = (x + drop(f, c.dropout, &mut rng)?)?;
            } else {
                let a = b
                    .attn
                    .forward(&x, mask, c.attn_dropout, rng.as_deref_mut())?;
                x = b.norm1.forward(&(x + drop(a, c.dropout, &mut rng)?)?)?;
                let f = b.ff2.forward(&b.ff1.forward(&x)?.gelu_erf()?)?;
                x = b.norm2.forward(&(x + drop(f, c.dropout, &mut rng)?)?)?;
            }
            x = x.broadcast_mul(keep)?;
        }
        if let Some(n) = &self.last {
            x = n.forward(&x)?;
        }
        Ok(x)
    }
}

/// Additive attention mask `[B, 1, L, L]` for `B` sequences padded to `L` on the left:
/// `lens[b]` real items occupy the last `lens[b]` positions. A query may look at real keys
/// only, and with `causal` only at keys not after it. Padded query rows look at every key
/// (their output is discarded) so no row is all −∞.
pub fn attention_mask(lens: &[usize], l: usize, causal: bool) -> Vec<f32> {
    const NEG: f32 = -1e9;
    let mut m = vec![0f32; lens.len() * l * l];
    for (b, &len) in lens.iter().enumerate() {
        let start = l - len.min(l);
        let block = &mut m[b * l * l..(b + 1) * l * l];
        for q in start..l {
            for k in 0..l {
                if k < start || (causal && k > q) {
                    block[q * l + k] = NEG;
                }
            }
        }
    }
    m
}
