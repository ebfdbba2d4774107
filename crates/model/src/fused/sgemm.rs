//! The one place `unsafe` is allowed: row-major f32 matrix products through
//! the `gemm` crate (the kernels Burn's CPU backend uses, picked at run time
//! for the machine: AVX-512, AVX2 + FMA, or portable), behind a safe
//! function that checks every slice against the shape first.
#![allow(unsafe_code)]

/// A matrix view: `rows x cols`, element `(r, c)` at `r * stride + c *
/// col_stride` (a stride above `cols` reads columns out of a wider matrix;
/// [`Mat::t`] swaps the strides to read the transpose).
#[derive(Debug, Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub stride: usize,
    pub col_stride: usize,
}

impl<'a> Mat<'a> {
    /// A contiguous `rows x cols` matrix.
    pub fn dense(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Mat {
            data,
            rows,
            cols,
            stride: cols,
            col_stride: 1,
        }
    }

    /// `rows` rows of `cols` columns read out of a row-major matrix whose rows are `stride` long.
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, stride: usize) -> Self {
        Mat {
            data,
            rows,
            cols,
            stride,
            col_stride: 1,
        }
    }

    /// The transpose, over the same data.
    pub fn t(self) -> Self {
        Mat {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            stride: self.col_stride,
            col_stride: self.stride,
        }
    }

    /// Whether every element the view names lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.stride + (self.cols - 1) * self.col_stride < self.data.len()
    }
}

/// `out = a x b` (or `out += a x b` with `accumulate`); `out` is row-major
/// `a.rows x b.cols` with row stride `out_stride`.
///
/// # Panics
/// When the shapes do not agree or a view runs past its slice: a bug in the
/// caller, never a property of the input data.
pub fn matmul(a: Mat<'_>, b: Mat<'_>, out: &mut [f32], out_stride: usize, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions differ");
    assert!(
        a.in_bounds() && b.in_bounds(),
        "a matrix view runs past its data"
    );
    let out_view = Mat::strided(out, m, n, out_stride);
    assert!(
        out_stride >= n && out_view.in_bounds(),
        "the output runs past its buffer"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for row in out.chunks_mut(out_stride).take(m) {
                row[..n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: the asserts above check that every element `a` (m x k) and `b`
    // (k x n) name through their strides lies inside their slices, and that
    // `out` (m x n, unit column stride, row stride out_stride >= n, so no two
    // elements share an address) lies inside its own; `out` is borrowed
    // mutably, so it aliases neither input, and the borrows outlive the call;
    // gemm reads and writes only the elements those shapes and strides name,
    // on this thread (`Parallelism::None`).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            out_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_of_views_match_the_definition() {
        // a: 2 x 3 read out of a 2 x 4 matrix; b: 3 x 2.
        let a = [1.0, 2.0, 3.0, 99.0, 4.0, 5.0, 6.0, 99.0];
        let b = [1.0, 0.5, -1.0, 2.0, 0.0, 1.0];
        let mut out = [10.0f32; 4];
        // Written, then accumulated onto.
        for (accumulate, expected) in [
            (false, [-1.0, 7.5, -1.0, 18.0]),
            (true, [-2.0, 15.0, -2.0, 36.0]),
        ] {
            let a_view = Mat::strided(&a, 2, 3, 4);
            matmul(a_view, Mat::dense(&b, 3, 2), &mut out, 2, accumulate);
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn transposed_views_read_the_transpose() {
        // a: 2 x 3; a^T a is 3 x 3.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut out = [0.0f32; 9];
        let view = Mat::dense(&a, 2, 3);
        matmul(view.t(), view, &mut out, 3, false);
        assert_eq!(out, [17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0]);
    }

    #[test]
    #[should_panic(expected = "runs past")]
    fn a_view_past_its_data_is_refused() {
        let a = [1.0f32; 5];
        let mut out = [0.0f32; 4];
        matmul(
            Mat::dense(&a, 2, 3),
            Mat::dense(&a, 3, 1),
            &mut out,
            1,
            false,
        );
    }
}
