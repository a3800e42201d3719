package org.nemotron4j;

/**
 * How a model's decode steps ran since it was loaded ({@link NemotronModel#decodeStepStats()}). On CUDA the first
 * step of a batch shape runs eagerly (a warm-up that sizes scratch memory), the second is captured as a CUDA graph,
 * and the later ones replay it; on the CPU every step runs eagerly.
 *
 * @param eagerSteps    steps whose kernels were launched one by one (warm-ups, {@code cudaGraphs = false}, the CPU)
 * @param captures      CUDA graphs captured
 * @param replays       steps run as the replay of a captured graph
 * @param graphsDropped graphs dropped because device scratch memory had to grow (recaptured at their next step)
 * @param lastGraphNodes nodes of the graph captured last (kernel launches, copies, memsets): what that decode step
 *                      launches when run eagerly, where a replay is one copy and one graph launch; 0 before any
 */
public record DecodeStepStats(long eagerSteps, long captures, long replays, long graphsDropped, long lastGraphNodes) {
}
