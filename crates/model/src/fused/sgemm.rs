//! The one place `unsafe` is allowed: row-major f32 matrix products through
//! the `gemm` crate (the kernels Burn's CPU backend uses, picked at run time
//! for the machine: AVX-512, AVX2 + FMA, or portable), behind a safe
//! function that checks every slice against the shape first.
#![allow(unsafe_code)]

/// A row-major matrix view: `rows x cols`, row `r` starting at
/// `r * stride` (a stride above `cols` reads columns out of a wider matrix).
#[derive(Debug, Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub stride: usize,
}

impl<'a> Mat<'a> {
    /// A contiguous `rows x cols` matrix.
    pub fn dense(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Mat {
            data,
            rows,
            cols,
            stride: cols,
        }
    }

    /// Whether every element the view names lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.stride >= self.cols
                && (self.rows - 1) * self.stride + self.cols <= self.data.len())
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
    let out_view = Mat {
        data: out,
        rows: m,
        cols: n,
        stride: out_stride,
    };
    assert!(out_view.in_bounds(), "the output runs past its buffer");
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
    // SAFETY: the asserts above check that `a` (m x k, row stride a.stride),
    // `b` (k x n, row stride b.stride) and `out` (m x n, row stride
    // out_stride) lie inside their slices, with strides at least their widths
    // so rows do not overlap; `out` is borrowed mutably, so it aliases neither
    // input; gemm reads and writes only the elements those shapes and strides
    // name, on this thread (`Parallelism::None`).
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
            1,
            a.stride as isize,
            b.data.as_ptr(),
            1,
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
            let a_view = Mat {
                data: &a,
                rows: 2,
                cols: 3,
                stride: 4,
            };
            matmul(a_view, Mat::dense(&b, 3, 2), &mut out, 2, accumulate);
            assert_eq!(out, expected);
        }
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
