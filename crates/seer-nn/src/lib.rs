//! Neural-network building blocks of seer, shared by the sequence models (SASRec, BERT4Rec),
//! the factorization machine and the text encoder's fine-tuning: a parameter store with seeded initialisation, differentiable
//! operations (with fused custom ops where candle's own have no backward pass or are slow), a
//! Transformer encoder and the AdamW optimiser.
//!
//! Why not `candle_nn`'s layers: in candle 0.11 `candle_nn::ops::softmax_last_dim`,
//! `ops::layer_norm` and `LayerNorm`'s fast path have **no backward pass**, so gradients stop
//! there silently; `VarMap` initialises from candle's unseeded generator, so a fixed seed would
//! not give the same model; and `candle_nn::AdamW` keeps its moments private, so an interrupted
//! training could not resume. Every op here is either composed of candle ops that do have a
//! backward pass or is a custom op with its own, checked against finite differences in the
//! tests (`every_parameter_gets_a_gradient` and `fused_cross_entropy_matches_finite_differences`).

//!
//! May import: candle and the numeric crates. Never: `seer-models` or anything that knows a
//! recommender, a file format, HTTP or a database (layers know no recommender).
#![warn(missing_docs)]

pub mod error;
mod kernels;
pub mod loss;
pub mod ops;
pub mod optim;
pub mod transformer;

use candle_core::{DType, Device, Tensor, Var};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub use error::{Error, Result};

/// Host copies of parameters: (name, shape, values) per tensor.
pub type Snapshot = Vec<(String, Vec<usize>, Vec<f32>)>;

/// The trainable tensors of a network, by hierarchical name (`enc.0.attn.wq`), in creation
/// order. Initialisation draws from the caller's seeded generator, so a seed fixes the model.
pub struct Params {
    device: Device,
    vars: Vec<(String, Var)>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Params")
            .field("tensors", &self.vars.len())
            .field("values", &self.n_values())
            .finish()
    }
}

impl Params {
    /// An empty store on `device`.
    pub fn new(device: Device) -> Params {
        Params {
            device,
            vars: Vec::new(),
        }
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    fn push(&mut self, name: &str, shape: &[usize], data: Vec<f32>) -> Result<Tensor> {
        let var = Var::from_vec(data, shape, &self.device)?;
        let t = var.as_tensor().clone();
        self.vars.push((name.to_string(), var));
        Ok(t)
    }

    /// A parameter drawn from N(0, std²), truncated at ±2 std (BERT's and RecBole's
    /// initialiser).
    pub fn normal(
        &mut self,
        rng: &mut ChaCha8Rng,
        name: &str,
        shape: &[usize],
        std: f32,
    ) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let data = (0..n).map(|_| truncated_normal(rng) * std).collect();
        self.push(name, shape, data)
    }

    /// A parameter filled with `value`.
    pub fn constant(&mut self, name: &str, shape: &[usize], value: f32) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        self.push(name, shape, vec![value; n])
    }

    /// Every parameter with its name.
    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// Total number of scalar values.
    pub fn n_values(&self) -> usize {
        self.vars.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// Copies every parameter to host memory (name, shape, values), e.g. to keep the best
    /// epoch's weights or to save them.
    pub fn snapshot(&self) -> Result<Snapshot> {
        self.vars
            .iter()
            .map(|(n, v)| {
                Ok((
                    n.clone(),
                    v.dims().to_vec(),
                    v.as_tensor().flatten_all()?.to_vec1::<f32>()?,
                ))
            })
            .collect()
    }

    /// Overwrites every parameter from `values`, looked up by name; shapes must match.
    pub fn restore<'a>(
        &self,
        mut get: impl FnMut(&str) -> Option<(&'a [usize], &'a [f32])>,
    ) -> Result<()> {
        for (name, var) in &self.vars {
            let Some((shape, data)) = get(name) else {
                return Err(Error::Tensor(format!("no values for parameter {name:?}")));
            };
            if shape != var.dims() {
                return Err(Error::Tensor(format!(
                    "parameter {name:?}: expected shape {:?}, found {shape:?}",
                    var.dims()
                )));
            }
            var.set(&Tensor::from_slice(data, shape, &self.device)?)?;
        }
        Ok(())
    }
}

/// A standard normal draw, redrawn until it falls within ±2.
pub fn truncated_normal(rng: &mut ChaCha8Rng) -> f32 {
    loop {
        // Box–Muller.
        let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
        let u2: f32 = rng.random::<f32>();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos();
        if z.abs() <= 2.0 {
            return z;
        }
    }
}

/// Tells glibc's allocator to keep freed memory for reuse instead of returning it to the
/// operating system: candle allocates a fresh buffer for every intermediate tensor, and
/// glibc serves buffers over 128 KiB with `mmap` and unmaps them on free, so every training
/// step paid page faults and TLB shootdowns for the same few hundred megabytes (a fifth of a
/// SASRec step on Beauty; measured with `perf`: 932 → 775 ms per step). Call once at
/// start-up; a no-op on other C libraries.
///
/// This is the one `unsafe` call in seer: `mallopt` is a plain libc setter, taking two ints
/// and touching no memory of ours. The alternatives were an environment variable
/// (`GLIBC_TUNABLES`, read before `main`, so users would have to set it) or a different
/// global allocator (mimalloc was measured slower here: 873–950 ms per step).
#[allow(unsafe_code)]
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes allocator parameters; the values are in range.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20); // glibc's maximum on 64-bit
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// The device sequence models run on: the first CUDA GPU when seer is built with the `cuda`
/// feature and one is present, else the CPU (multi-threaded through rayon and `gemm`).
pub fn default_device() -> Device {
    #[cfg(feature = "cuda")]
    if let Ok(d) = Device::new_cuda(0) {
        return d;
    }
    Device::Cpu
}

/// A `u32` index tensor.
pub fn indices(data: &[u32], shape: &[usize], device: &Device) -> Result<Tensor> {
    Ok(Tensor::from_slice(data, shape, device)?)
}

/// An `f32` tensor of host values.
pub fn floats(data: Vec<f32>, shape: &[usize], device: &Device) -> Result<Tensor> {
    Ok(Tensor::from_vec(data, shape, device)?)
}

/// Each row of a `[N, H]` tensor divided by its L2 norm (at least 1e-12, so a zero row stays
/// zero); differentiable.
pub fn unit_rows(t: &Tensor) -> Result<Tensor> {
    let norm = t.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f32::MAX)?;
    Ok(t.broadcast_div(&norm)?)
}

/// Scalar value of a one-element tensor.
pub fn scalar(t: &Tensor) -> Result<f32> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?[0])
}
