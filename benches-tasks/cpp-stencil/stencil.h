/* Frozen interface of the cpp-stencil task. Do not edit. */
#ifndef HG_STENCIL_H
#define HG_STENCIL_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One application of a 13-point stencil on a rows x cols grid of float32.
 *
 *   in  : element (i, j) at in[i * ld_in + j]     (ld_in  >= cols), read-only
 *   out : element (i, j) at out[i * ld_out + j]   (ld_out >= cols); only these
 *         rows * cols elements may be written -- not the gap between cols and ld_out
 *   c   : c[0] centre, c[1] the 4 direct neighbours, c[2] the 4 diagonal
 *         neighbours, c[3] the 4 points two steps away along the axes
 *
 *   out(i,j) = c0*x(i,j)
 *            + c1*(x(i-1,j) + x(i+1,j) + x(i,j-1) + x(i,j+1))
 *            + c2*(x(i-1,j-1) + x(i-1,j+1) + x(i+1,j-1) + x(i+1,j+1))
 *            + c3*(x(i-2,j) + x(i+2,j) + x(i,j-2) + x(i,j+2))
 *
 * Boundary: mirror without repeating the edge, index -1 -> 1, -2 -> 2,
 * n -> n-2, n+1 -> n-3 (per axis).  rows >= 3 and cols >= 3.  in and out do not
 * overlap.
 */
__attribute__((visibility("default")))
void stencil_apply(const float *in, float *out, int rows, int cols, long ld_in, long ld_out,
                   const float c[4]);

#ifdef __cplusplus
}
#endif

#endif
