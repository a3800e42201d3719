package org.nemotron4j;

/**
 * One residual block of a Nemotron-H model: {@code h = h + mixer(RMSNorm(h))}. The mixer is a Mamba-2, attention
 * or MLP layer ({@code hybrid_override_pattern}). Layers hold only weights; per-sequence state lives in the session.
 */
sealed interface Layer permits MambaLayer, AttentionLayer, MlpLayer {

    int index();

    /** Runs {@code tokens} tokens of one session (rows of {@code f.ws.hidden}) through this block. */
    void prefill(Forward f, Session session, int tokens);

    /** Runs one token of each of {@code batch.length} sessions (row b of the workspace is session b) through this block. */
    void decode(Forward f, Session[] batch);
}
