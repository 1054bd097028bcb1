//! The kernel families, a file each: the kernels that step M of one
//! shape on the GPU, with every fact of them a run, a plan, a cost or
//! bench reads ([`super::launch::KernelFamily`]) and the dispatches of
//! their steps. `OperatorShape::of` (`operator.rs`) chooses the family of
//! each form of M.

pub mod convolution;
pub mod dense;
pub mod sparse;
pub mod structured;
