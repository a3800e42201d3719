package org.nemotron4j.quant;

import org.nemotron4j.NemotronException;

/**
 * Rounding with error feedback over a row's columns (the method of GPTQ, Frantar et al. 2022): the output error of a
 * row {@code w} quantized to {@code w'} on inputs {@code x} is {@code (w - w')^T H (w - w')} with
 * {@code H = E[x x^T]}, the inputs' second-moment matrix. Columns are rounded in order; after rounding column
 * {@code c} by {@code e}, the columns not yet rounded are moved by the optimal compensation
 * {@code -e * Hinv[c, j] / Hinv[c, c]}, computed from the upper Cholesky factor {@code U} of {@code H^-1}
 * ({@code H^-1 = U^T U}, which folds in the inverse updates of the columns already done): {@code w[j] -=
 * (e / U[c][c]) * U[c][j]} for {@code j > c}. {@code H} is damped by {@link #DAMP} times its mean diagonal (and
 * a column the calibration never saw gets that diagonal) so that it is positive definite.
 */
final class ErrorFeedback {
    /** The damping of H's diagonal, relative to its mean (GPTQ's 1%). */
    static final double DAMP = 0.01;

    private final int n;
    private final double[] u;   // n x n, upper triangle of the Cholesky factor of H^-1

    private ErrorFeedback(int n, double[] u) {
        this.n = n;
        this.u = u;
    }

    int columns() {
        return n;
    }

    /** From {@code gram} = E[x x^T], row-major {@code n x n} (symmetric). */
    static ErrorFeedback of(float[] gram, int n) {
        if (gram.length != (long) n * n) {
            throw new NemotronException("second-moment matrix of " + gram.length + " values for " + n + " columns");
        }
        double[] h = new double[n * n];
        double mean = 0;
        for (int i = 0; i < n; i++) {
            mean += gram[i * n + i];
        }
        mean /= n;
        if (!(mean > 0)) {
            mean = 1;
        }
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                h[i * n + j] = 0.5 * ((double) gram[i * n + j] + gram[j * n + i]);
            }
            h[i * n + i] += DAMP * mean;
        }
        // H = L L^T (lower), then H^-1 = L^-T L^-1, then H^-1 = U^T U (U upper)
        double[] l = cholesky(h, n);
        double[] linv = invertLower(l, n);
        double[] hinv = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double s = 0;
                for (int k = i; k < n; k++) {  // (L^-T L^-1)[i][j] = sum_k Linv[k][i] * Linv[k][j], k >= max(i, j)
                    s += linv[k * n + i] * linv[k * n + j];
                }
                hinv[i * n + j] = s;
                hinv[j * n + i] = s;
            }
        }
        double[] up = new double[n * n];
        upperCholesky(hinv, n, up);
        return new ErrorFeedback(n, up);
    }

    /** Lower Cholesky factor of the symmetric positive definite {@code a} (n x n). */
    private static double[] cholesky(double[] a, int n) {
        double[] l = new double[n * n];
        for (int j = 0; j < n; j++) {
            double s = a[j * n + j];
            for (int k = 0; k < j; k++) {
                s -= l[j * n + k] * l[j * n + k];
            }
            if (!(s > 0)) {
                throw new NemotronException("the calibration's second-moment matrix is not positive definite");
            }
            double d = Math.sqrt(s);
            l[j * n + j] = d;
            for (int i = j + 1; i < n; i++) {
                double t = a[i * n + j];
                for (int k = 0; k < j; k++) {
                    t -= l[i * n + k] * l[j * n + k];
                }
                l[i * n + j] = t / d;
            }
        }
        return l;
    }

    /** The upper factor {@code U} of {@code a = U^T U} into {@code u} (row-major, zeros below the diagonal). */
    private static void upperCholesky(double[] a, int n, double[] u) {
        for (int i = 0; i < n; i++) {
            double s = a[i * n + i];
            for (int k = 0; k < i; k++) {
                s -= u[k * n + i] * u[k * n + i];
            }
            if (!(s > 0)) {
                throw new NemotronException("the inverse second-moment matrix is not positive definite");
            }
            double d = Math.sqrt(s);
            u[i * n + i] = d;
            for (int j = i + 1; j < n; j++) {
                double t = a[i * n + j];
                for (int k = 0; k < i; k++) {
                    t -= u[k * n + i] * u[k * n + j];
                }
                u[i * n + j] = t / d;
            }
        }
    }

    /** The inverse of the lower triangular {@code l}. */
    private static double[] invertLower(double[] l, int n) {
        double[] inv = new double[n * n];
        for (int j = 0; j < n; j++) {
            inv[j * n + j] = 1 / l[j * n + j];
            for (int i = j + 1; i < n; i++) {
                double s = 0;
                for (int k = j; k < i; k++) {
                    s += l[i * n + k] * inv[k * n + j];
                }
                inv[i * n + j] = -s / l[i * n + i];
            }
        }
        return inv;
    }

    /** Column {@code c} of {@code w} was rounded to {@code rounded}: moves columns c+1.. to compensate. */
    void propagate(float[] w, int c, float rounded) {
        double e = (w[c] - (double) rounded) / u[c * n + c];
        int base = c * n;
        for (int j = c + 1; j < n; j++) {
            w[j] -= (float) (e * u[base + j]);
        }
    }
}
