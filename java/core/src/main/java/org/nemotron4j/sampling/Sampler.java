package org.nemotron4j.sampling;

import org.nemotron4j.NemotronException;

import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Chooses the next token from a row of logits as {@link SamplingParams} describes, and keeps the token history the
 * penalties need. One sampler serves one generation; it is not thread-safe.
 *
 * <p>Cost on a 131072-entry row, without sorting it. Every pass is a plain loop over arrays; the heavy ones are
 * written so that C2 vectorizes them.
 * <ol>
 *   <li>One pass for the maximum m. With top-k, a bounded min-heap (quickselect for large k) keeps the k largest
 *       logits and everything below works on those k only.</li>
 *   <li>{@code y = min((m - l) / T, 60)}, the negative log of each unnormalized weight, and {@code w = e^-y} by
 *       2<sup>k</sup>·2<sup>f</sup> with a degree-6 polynomial for 2<sup>f</sup> (relative error ~2e-6), in three
 *       short loops. The top token weighs exactly 1; a weight below e<sup>-60</sup> is as good as zero.</li>
 *   <li>Top-p, decided per drawn token and only as far as needed: the most probable token is always in the
 *       nucleus; for any other, a histogram of mass over y (bucket 0 = most probable; built once per row, when first
 *       needed) finds the bucket B where the cumulative mass, most probable first, reaches p times the total.
 *       Tokens in buckets before B are in the nucleus, after B out. Only when a draw lands in B is B refined (finer
 *       histograms of B alone, then a sort of what is left) to the exact cut: the shortest most-probable-first
 *       prefix whose mass reaches p (ties by lowest id).</li>
 *   <li>Min-p zeroes the weights below {@code minP} (the top token weighs 1, so this is {@code p < minP * p_max}).
 *       Top-p still measures p against the mass before min-p; since min-p only removes the lightest tokens, the
 *       nucleus found among the remaining ones is the same.</li>
 *   <li>The draw: a uniform number over the remaining mass, located by per-block sums then within one block; a
 *       draw outside the nucleus is rejected and redrawn. That gives exactly the renormalized nucleus
 *       distribution, and each try succeeds with probability at least p; after 64 rejections the loop draws
 *       from the exact nucleus directly.</li>
 * </ol>
 * The random source is a {@link SplittableRandom} seeded from {@link SamplingParams#seed()}, and every step above is
 * deterministic, so the same seed and logits give the same tokens.
 */
public final class Sampler {
    /**
     * y is clamped here: e^-60 ≈ 9e-27 of the top token's weight, nothing for any sum; tokens this far down
     * (-infinity and NaN logits among them) are never drawn.
     */
    static final float Y_MAX = 60f;
    /** The first top-p histogram spans y in [0, HIST_RANGE); its last bucket also takes everything beyond. */
    private static final float HIST_RANGE = 32f;
    private static final int BUCKETS = 512;
    /** Block size of the partial sums the draw walks. */
    private static final int BLOCK = 256;
    /** Candidate sets this small are sorted outright for top-p. */
    private static final int SORT_LIMIT = 256;
    /** Top-k at most this large uses a heap; beyond it, quickselect. */
    private static final int HEAP_LIMIT = 4096;
    /** Rejected draws before drawing from the exact nucleus directly. */
    private static final int MAX_REJECTIONS = 64;

    private static final float LOG2E = 1.4426950408889634f;
    private static final float ROUNDER = 12582912f; // 1.5 * 2^23: adding and subtracting it rounds to an integer
    // (ln 2)^k / k!: the Taylor series of 2^f = e^(f ln 2)
    private static final float C1 = 0.6931471805599453f;
    private static final float C2 = 0.2402265069591007f;
    private static final float C3 = 0.05550410866482158f;
    private static final float C4 = 0.009618129107628477f;
    private static final float C5 = 0.0013333558146428443f;
    private static final float C6 = 0.00015403530393381606f;

    private final SamplingParams params;
    private final int vocab;
    private final long seed;
    private final SplittableRandom random;
    private final int[] biasIds;
    private final float[] biasValues;

    // History for the penalties.
    private final boolean[] seen;      // in prompt or output: repetition penalty
    private int[] seenList = new int[0];
    private int seenCount;
    private final int[] counts;        // times generated: presence / frequency penalties
    private int[] generatedList = new int[0];
    private int generatedDistinct;

    // Scratch, allocated on the first random draw. Positions index the candidates: token ids themselves, or
    // ids[position] after top-k.
    private int[] ids;
    private float[] y;
    private float[] w;
    private float[] fraction;
    private int[] exponent;
    private int[] set;
    private double[] blockSum;
    private long[] keys = new long[SORT_LIMIT];
    private final double[] bucketMass = new double[BUCKETS];
    private float[] heapValue = new float[0];
    private int[] heapId = new int[0];

    // The current row.
    private int n;              // candidates
    private boolean compact;    // candidates are ids[0, n) rather than all token ids
    private double drawMass;    // sum of the weights after min-p
    private int blocks;
    private double target;      // p times the mass before min-p
    private boolean cutExact;   // cutY / cutTiePosition are known (else only the histogram bucket)
    private float cutY;         // nucleus: y < cutY, or y == cutY at positions <= cutTiePosition
    private int cutTiePosition;
    private int topPosition;    // position of the first largest logit: always in the nucleus
    private int cutBucket;      // first-level bucket holding the cut, -1 before the histogram is built
    private double cutBefore;   // mass of the buckets before it
    private float cutScale;
    private double crossedBefore; // out-parameter of crossing()

    /**
     * @param params    the sampling parameters
     * @param vocabSize how many leading entries of each logits row are real tokens
     */
    public Sampler(SamplingParams params, int vocabSize) {
        this.params = java.util.Objects.requireNonNull(params, "params");
        if (vocabSize < 1) {
            throw new NemotronException("vocabulary size must be positive, got " + vocabSize);
        }
        this.vocab = vocabSize;
        this.seed = params.seed() != null ? params.seed() : ThreadLocalRandom.current().nextLong();
        this.random = new SplittableRandom(seed);
        this.biasIds = new int[params.logitBias().size()];
        this.biasValues = new float[biasIds.length];
        int i = 0;
        for (Map.Entry<Integer, Float> e : params.logitBias().entrySet()) {
            if (e.getKey() >= vocabSize) {
                throw new NemotronException("logit bias names token " + e.getKey() + " but the vocabulary has "
                        + vocabSize + " tokens");
            }
            biasIds[i] = e.getKey();
            biasValues[i++] = e.getValue();
        }
        this.seen = params.repetitionPenalty() != 1 ? new boolean[vocabSize] : null;
        this.counts = params.presencePenalty() != 0 || params.frequencyPenalty() != 0 ? new int[vocabSize] : null;
    }

    public SamplingParams params() {
        return params;
    }

    /** The seed in use (drawn at random when the parameters gave none). */
    public long seed() {
        return seed;
    }

    public int vocabSize() {
        return vocab;
    }

    /**
     * Records prompt tokens: the repetition penalty covers them too (as Hugging Face's does). Ids outside the
     * sampled vocabulary (a model's padded rows) are ignored: they can never be drawn anyway.
     */
    public void observePrompt(int... tokens) {
        for (int id : tokens) {
            if (id >= 0 && id < vocab) {
                markSeen(id);
            }
        }
    }

    /** Records a token appended to the output (sampled or forced). */
    public void accept(int id) {
        checkId(id);
        markSeen(id);
        if (counts != null) {
            if (counts[id]++ == 0) {
                if (generatedDistinct == generatedList.length) {
                    generatedList = Arrays.copyOf(generatedList, Math.max(16, generatedDistinct * 2));
                }
                generatedList[generatedDistinct++] = id;
            }
        }
    }

    private void markSeen(int id) {
        if (seen != null && !seen[id]) {
            seen[id] = true;
            if (seenCount == seenList.length) {
                seenList = Arrays.copyOf(seenList, Math.max(16, seenCount * 2));
            }
            seenList[seenCount++] = id;
        }
    }

    private void checkId(int id) {
        if (id < 0 || id >= vocab) {
            throw new NemotronException("token id " + id + " is outside the vocabulary [0, " + vocab + ")");
        }
    }

    /**
     * Chooses a token from {@code logits[0, vocabSize)}. The row is modified in place (penalties and bias).
     * Entries that are -infinity are never chosen; if no entry is left, a {@link NemotronException} says so. A NaN
     * entry means the forward pass broke (a NaN or infinite weight or activation): no token is chosen from such a
     * row, a {@link NemotronException} says how many entries are NaN instead.
     */
    public int sample(float[] logits) {
        if (logits.length < vocab) {
            throw new NemotronException("logits row has " + logits.length + " entries, fewer than the vocabulary's "
                    + vocab);
        }
        checkNoNaN(logits, vocab);
        applyPenalties(logits);
        for (int i = 0; i < biasIds.length; i++) {
            logits[biasIds[i]] += biasValues[i];
        }
        return params.isGreedy() ? argmax(logits, vocab) : draw(logits);
    }

    private void applyPenalties(float[] l) {
        if (seen != null) {
            float r = (float) params.repetitionPenalty();
            for (int k = 0; k < seenCount; k++) {
                int t = seenList[k];
                float v = l[t];
                l[t] = v > 0 ? v / r : v * r;
            }
        }
        if (counts != null) {
            float presence = (float) params.presencePenalty();
            float frequency = (float) params.frequencyPenalty();
            for (int k = 0; k < generatedDistinct; k++) {
                int t = generatedList[k];
                l[t] -= presence + frequency * counts[t];
            }
        }
    }

    /**
     * Refuses a row of logits {@code l[0, n)} holding NaN with a {@link NemotronException} naming the first such id
     * and the count: a token chosen from it would be noise (every logit is NaN once any weight or activation is).
     */
    public static void checkNoNaN(float[] l, int n) {
        int first = -1;
        int count = 0;
        for (int i = 0; i < n; i++) {
            if (Float.isNaN(l[i])) {
                count++;
                if (first < 0) {
                    first = i;
                }
            }
        }
        if (count > 0) {
            throw nanLogits(count, n, first);
        }
    }

    /** The error for a row of {@code n} logits of which {@code count} are NaN, the first at id {@code first}. */
    public static NemotronException nanLogits(int count, int n, int first) {
        return new NemotronException("the model produced NaN logits (" + count + " of " + n + ", the first for token id "
                + first + "): no token can be chosen. A weight or activation is NaN or infinite; load with"
                + " --check-tensors (LoadOptions.withCheckTensors) to find a bad weight");
    }

    /** The first index of the largest entry of {@code l[0, n)}, ignoring NaN. */
    public static int argmax(float[] l, int n) {
        int best = -1;
        float bestValue = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            if (l[i] > bestValue) {
                bestValue = l[i];
                best = i;
            }
        }
        if (best < 0) {
            throw noCandidate(n);
        }
        return best;
    }

    private static NemotronException noCandidate(int n) {
        return new NemotronException("no token can be sampled: all " + n
                + " logits are -infinity or NaN (after penalties and logit bias)");
    }

    private int draw(float[] l) {
        int infinite = prepare(l);
        if (infinite >= 0) {
            return infinite;
        }
        for (int tries = 0; tries < MAX_REJECTIONS; tries++) {
            int position = drawPosition();
            if (y[position] < Y_MAX && inNucleus(position)) {
                return id(position);
            }
        }
        return id(drawFromExactNucleus());
    }

    /**
     * Whether a position can be drawn at all: min-p keeps it, and its logit is within {@link #Y_MAX} (temperature
     * scaled) of the top one, which also rules out -infinity and NaN.
     */
    private boolean drawable(int position) {
        return y[position] < Y_MAX && w[position] > 0;
    }

    private int id(int position) {
        return compact ? ids[position] : position;
    }

    /**
     * The tokens a draw would choose among, in ascending order (penalties and bias applied to {@code logits}
     * first); for greedy parameters, the single argmax. For tests and diagnostics.
     */
    int[] candidateIds(float[] logits) {
        applyPenalties(logits);
        for (int i = 0; i < biasIds.length; i++) {
            logits[biasIds[i]] += biasValues[i];
        }
        if (params.isGreedy()) {
            return new int[] {argmax(logits, vocab)};
        }
        int infinite = prepare(logits);
        if (infinite >= 0) {
            return new int[] {infinite};
        }
        refineCut();
        int[] out = new int[n];
        int m = 0;
        for (int position = 0; position < n; position++) {
            if (drawable(position) && inNucleus(position)) {
                out[m++] = id(position);
            }
        }
        out = Arrays.copyOf(out, m);
        Arrays.sort(out);
        return out;
    }

    /**
     * Computes the candidates, their weights (min-p applied), the block sums and what top-p needs up front for one
     * row. Returns -1, or the id of an infinite logit (which takes all the mass).
     */
    private int prepare(float[] l) {
        final int v = vocab;
        float max = Float.NEGATIVE_INFINITY;
        int top = -1;
        for (int i = 0; i < v; i++) {
            float x = l[i];
            if (x > max) {
                max = x;
                top = i;
            }
        }
        if (max == Float.NEGATIVE_INFINITY) {
            throw noCandidate(v);
        }
        if (max == Float.POSITIVE_INFINITY) {
            return top;
        }
        if (y == null) {
            ids = new int[v];
            y = new float[v];
            w = new float[v];
            fraction = new float[v];
            exponent = new int[v];
            set = new int[v];
            blockSum = new double[(v + BLOCK - 1) / BLOCK];
        }
        final float invT = (float) (1 / params.temperature());

        int k = params.topK();
        compact = k > 0 && k < v;
        if (compact) {
            n = k <= HEAP_LIMIT ? heapTopK(l, k) : quickTopK(l, k);
            topPosition = Arrays.binarySearch(ids, 0, n, top);
            for (int j = 0; j < n; j++) {
                y[j] = Math.min((max - l[ids[j]]) * invT, Y_MAX);
            }
        } else {
            n = v;
            topPosition = top;
            for (int j = 0; j < n; j++) {
                y[j] = Math.min((max - l[j]) * invT, Y_MAX); // -infinity: Y_MAX; NaN stays NaN
            }
        }
        expNeg(y, w, fraction, exponent, n);

        // Block sums, for the draw. A NaN logit shows up as a NaN block sum: its weight becomes 0.
        blocks = (n + BLOCK - 1) / BLOCK;
        double total = 0;
        for (int b = 0; b < blocks; b++) {
            int from = b * BLOCK;
            int to = Math.min(n, from + BLOCK);
            double mass = sum(w, from, to);
            if (mass != mass) {
                for (int j = from; j < to; j++) {
                    if (!(w[j] >= 0)) {
                        w[j] = 0;
                        y[j] = Y_MAX;
                    }
                }
                mass = sum(w, from, to);
            }
            blockSum[b] = mass;
            total += mass;
        }
        double drawable = total;
        float minP = (float) params.minP();
        if (minP > 0) {
            // Min-p zeroes the weights below it: w -= w * step(minP - w), the step made of min/max so that the loop
            // vectorizes (2^126 turns any positive difference of floats near minP into >= 1).
            for (int j = 0; j < n; j++) {
                float x = w[j];
                float below = Math.min(Math.max((minP - x) * 0x1p126f, 0f), 1f);
                w[j] = x - x * below;
            }
            drawable = 0;
            for (int b = 0; b < blocks; b++) {
                int from = b * BLOCK;
                blockSum[b] = sum(w, from, Math.min(n, from + BLOCK));
                drawable += blockSum[b];
            }
        }
        drawMass = drawable;

        cutExact = true;
        cutY = Float.POSITIVE_INFINITY;
        cutTiePosition = -1;
        cutBucket = -1;
        if (params.topP() < 1) {
            target = params.topP() * total;
            if (n <= SORT_LIMIT) {
                for (int j = 0; j < n; j++) {
                    set[j] = j;
                }
                sortedCut(n, 0);
            } else {
                cutExact = false; // the histogram is built when a draw needs it
            }
        }
        return -1;
    }

    /** A position drawn with probability w / drawMass. */
    private int drawPosition() {
        double u = random.nextDouble() * drawMass;
        double acc = 0;
        int b = 0;
        while (b < blocks - 1 && acc + blockSum[b] <= u) {
            acc += blockSum[b];
            b++;
        }
        for (int j = b * BLOCK; j < n; j++) {
            acc += w[j];
            if (u < acc) {
                return j;
            }
        }
        return lastWeighted(n); // rounding put u past the end
    }

    private int lastWeighted(int end) {
        for (int j = end - 1; j >= 0; j--) {
            if (drawable(j)) {
                return j;
            }
        }
        throw new IllegalStateException("no weighted candidate"); // unreachable: the top token weighs 1
    }

    private boolean inNucleus(int position) {
        float yj = y[position];
        if (!cutExact) {
            if (position == topPosition) {
                return true; // the most probable token is always in (its bucket, or the cut, may not be known yet)
            }
            if (cutBucket < 0) {
                firstLevelCut();
            }
            int b = firstLevelBucket(yj);
            if (b != cutBucket) {
                return b < cutBucket;
            }
            refineCut();
        }
        return yj < cutY || (yj == cutY && position <= cutTiePosition);
    }

    /** After many rejections: one pass over the exact nucleus. */
    private int drawFromExactNucleus() {
        refineCut();
        double mass = 0;
        for (int j = 0; j < n; j++) {
            if (drawable(j) && inNucleus(j)) {
                mass += w[j];
            }
        }
        double u = random.nextDouble() * mass;
        double acc = 0;
        int last = -1;
        for (int j = 0; j < n; j++) {
            if (drawable(j) && inNucleus(j)) {
                acc += w[j];
                last = j;
                if (u < acc) {
                    return j;
                }
            }
        }
        return last;
    }

    /**
     * e^-y for y in [0, 60] (NaN gives NaN): y·log2(e) = k + f with k an integer and |f| <= 1/2, 2^f by its
     * degree-6 Taylor polynomial, then k added to the exponent bits. Three loops because C2 vectorizes each of
     * them but not one loop doing it all (nor loops whose arrays are indexed with different offsets).
     */
    static void expNeg(float[] y, float[] w, float[] fraction, int[] exponent, int n) {
        for (int i = 0; i < n; i++) {
            float t = -y[i] * LOG2E;
            float r = (t + ROUNDER) - ROUNDER;
            exponent[i] = (int) r;
            fraction[i] = t - r;
        }
        for (int i = 0; i < n; i++) {
            float f = fraction[i];
            float p = C6;
            p = p * f + C5;
            p = p * f + C4;
            p = p * f + C3;
            p = p * f + C2;
            p = p * f + C1;
            fraction[i] = p * f + 1f;
        }
        for (int i = 0; i < n; i++) {
            w[i] = Float.intBitsToFloat(Float.floatToRawIntBits(fraction[i]) + (exponent[i] << 23));
        }
    }

    private static double sum(float[] a, int from, int to) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0; // eight chains of adds in flight
        int j = from;
        for (; j + 7 < to; j += 8) {
            s0 += a[j];
            s1 += a[j + 1];
            s2 += a[j + 2];
            s3 += a[j + 3];
            s4 += a[j + 4];
            s5 += a[j + 5];
            s6 += a[j + 6];
            s7 += a[j + 7];
        }
        for (; j < to; j++) {
            s0 += a[j];
        }
        return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
    }

    // ---- top-k ----

    /** The k largest finite logits (ties: lowest ids) into ids[0, m) in ascending id order; returns m. */
    private int heapTopK(float[] l, int k) {
        if (heapValue.length < k) {
            heapValue = new float[k];
            heapId = new int[k];
        }
        // A min-heap ordered by (value, then higher id first): its root is the one to evict next.
        int size = 0;
        for (int i = 0; i < vocab; i++) {
            float x = l[i];
            if (size < k) {
                if (x > Float.NEGATIVE_INFINITY) {
                    int c = size++;
                    while (c > 0) {
                        int parent = (c - 1) >>> 1;
                        if (!before(x, i, heapValue[parent], heapId[parent])) {
                            break;
                        }
                        heapValue[c] = heapValue[parent];
                        heapId[c] = heapId[parent];
                        c = parent;
                    }
                    heapValue[c] = x;
                    heapId[c] = i;
                }
            } else if (x > heapValue[0]) {
                siftDown(x, i, k);
            }
        }
        System.arraycopy(heapId, 0, ids, 0, size);
        Arrays.sort(ids, 0, size);
        return size;
    }

    /** Heap order: a is evicted before b. */
    private static boolean before(float va, int ia, float vb, int ib) {
        return va < vb || (va == vb && ia > ib);
    }

    private void siftDown(float x, int id, int size) {
        int i = 0;
        while (true) {
            int child = 2 * i + 1;
            if (child >= size) {
                break;
            }
            if (child + 1 < size && before(heapValue[child + 1], heapId[child + 1], heapValue[child],
                    heapId[child])) {
                child++;
            }
            if (!before(heapValue[child], heapId[child], x, id)) {
                break;
            }
            heapValue[i] = heapValue[child];
            heapId[i] = heapId[child];
            i = child;
        }
        heapValue[i] = x;
        heapId[i] = id;
    }

    /** As {@link #heapTopK} for large k: quickselect finds the k-th largest value, two passes collect. */
    private int quickTopK(float[] l, int k) {
        float[] values = w; // scratch: the weights are computed afterwards
        int valid = 0;
        for (int i = 0; i < vocab; i++) {
            float x = l[i];
            if (x > Float.NEGATIVE_INFINITY) {
                values[valid++] = x;
            }
        }
        if (valid <= k) {
            int m = 0;
            for (int i = 0; i < vocab; i++) {
                if (l[i] > Float.NEGATIVE_INFINITY) {
                    ids[m++] = i;
                }
            }
            return m;
        }
        float kth = kthLargest(values, valid, k);
        int m = 0;
        for (int i = 0; i < vocab; i++) {
            if (l[i] > kth) {
                ids[m++] = i;
            }
        }
        for (int i = 0; i < vocab && m < k; i++) {
            if (l[i] == kth) {
                ids[m++] = i;
            }
        }
        Arrays.sort(ids, 0, m);
        return m;
    }

    /** The k-th largest of a[0, n) (1-based), by three-way quickselect with median-of-three pivots. */
    private static float kthLargest(float[] a, int n, int k) {
        int lo = 0;
        int hi = n;
        int want = k - 1; // index in descending order
        while (true) {
            float x = a[lo];
            float yv = a[lo + (hi - lo) / 2];
            float z = a[hi - 1];
            float pivot = Math.max(Math.min(x, yv), Math.min(Math.max(x, yv), z));
            int gt = lo;
            int i = lo;
            int lt = hi - 1;
            while (i <= lt) { // descending: [lo, gt) > pivot, [gt, i) == pivot, (lt, hi) < pivot
                float v = a[i];
                if (v > pivot) {
                    a[i] = a[gt];
                    a[gt++] = v;
                    i++;
                } else if (v < pivot) {
                    a[i] = a[lt];
                    a[lt--] = v;
                } else {
                    i++;
                }
            }
            if (want < gt) {
                hi = gt;
            } else if (want <= lt) {
                return pivot;
            } else {
                lo = lt + 1;
            }
        }
    }

    // ---- top-p ----

    private int firstLevelBucket(float yj) {
        return Math.min((int) (yj * cutScale), BUCKETS - 1);
    }

    /** Histograms the mass over y and records the bucket where the cumulative mass reaches the target. */
    private void firstLevelCut() {
        cutScale = BUCKETS / HIST_RANGE;
        Arrays.fill(bucketMass, 0);
        for (int j = 0; j < n; j++) {
            bucketMass[firstLevelBucket(y[j])] += w[j];
        }
        cutBucket = crossing(0);
        cutBefore = crossedBefore;
    }

    /** The first bucket where before + cumulative mass reaches the target; sets crossedBefore to the mass before it. */
    private int crossing(double before) {
        int cross = 0;
        double acc = before;
        while (true) {
            if (bucketMass[cross] > 0 && acc + bucketMass[cross] >= target) {
                break;
            }
            if (cross == BUCKETS - 1) {
                break;
            }
            acc += bucketMass[cross];
            cross++;
        }
        if (bucketMass[cross] == 0) { // rounding ran past the end: the last non-empty bucket crosses
            do {
                cross--;
            } while (bucketMass[cross] == 0);
            acc -= bucketMass[cross];
        }
        crossedBefore = acc;
        return cross;
    }

    /** Narrows the first-level crossing bucket with finer histograms, then sorts what is left. */
    private void refineCut() {
        if (cutExact) {
            return;
        }
        if (cutBucket < 0) {
            firstLevelCut();
        }
        int size = 0;
        for (int j = 0; j < n; j++) {
            if (firstLevelBucket(y[j]) == cutBucket) {
                set[size++] = j;
            }
        }
        float lo = cutBucket / cutScale;
        float width = 1f / cutScale;
        double before = cutBefore;
        for (int level = 1; ; level++) {
            if (size <= SORT_LIMIT || level > 6 || width <= 4 * Math.ulp(lo + width)) {
                sortedCut(size, before);
                return;
            }
            float scale = BUCKETS / width;
            Arrays.fill(bucketMass, 0);
            for (int r = 0; r < size; r++) {
                int j = set[r];
                bucketMass[fineBucket(y[j], lo, scale)] += w[j];
            }
            int cross = crossing(before);
            before = crossedBefore;
            int next = 0;
            for (int r = 0; r < size; r++) {
                int j = set[r];
                if (fineBucket(y[j], lo, scale) == cross) {
                    set[next++] = j;
                }
            }
            size = next;
            lo = lo + cross / scale;
            width = 1f / scale;
        }
    }

    private static int fineBucket(float yj, float lo, float scale) {
        int b = (int) ((yj - lo) * scale);
        return b < 0 ? 0 : Math.min(b, BUCKETS - 1);
    }

    /**
     * Sorts the candidates {@code set[0, size)} by (y, position) and takes the shortest prefix whose mass, added to
     * {@code before}, reaches the target: the last one taken fixes cutY and cutTiePosition.
     */
    private void sortedCut(int size, double before) {
        if (keys.length < size) {
            keys = new long[Math.max(size, keys.length * 2)];
        }
        for (int r = 0; r < size; r++) {
            int j = set[r];
            keys[r] = ((long) Float.floatToRawIntBits(y[j]) << 32) | j; // y >= 0: bit order is value order
        }
        Arrays.sort(keys, 0, size);
        double acc = before;
        int last = size - 1;
        for (int r = 0; r < size; r++) {
            acc += w[(int) keys[r]];
            if (acc >= target) {
                last = r;
                break;
            }
        }
        cutTiePosition = (int) keys[last];
        cutY = y[cutTiePosition];
        cutExact = true;
    }
}
