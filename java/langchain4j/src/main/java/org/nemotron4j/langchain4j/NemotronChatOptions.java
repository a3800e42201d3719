package org.nemotron4j.langchain4j;

import dev.langchain4j.model.chat.request.ChatRequestParameters;
import org.nemotron4j.serving.LogitsHook;
import org.nemotron4j.serving.Scheduler;

import java.util.Objects;
import java.util.function.Supplier;

/**
 * What a {@link NemotronChatModel} or {@link NemotronStreamingChatModel} runs on and its defaults.
 *
 * @param scheduler      the in-process engine: requests from many threads are batched together, and prompts that
 *                       start alike (system prompt, tool definitions, the conversation so far) reuse its prefix cache
 * @param modelName      the name reported in responses
 * @param reasoning      reasoning on or off for every request; null: the chat template's default (on)
 * @param thinkingBudget end the reasoning after about this many tokens; null: no budget
 * @param defaults       default request parameters (temperature, max output tokens, ...), overridden per request
 * @param logitsProcessor when non-null, a fresh processor per request sees and may change its logits before each
 *                       sample (constrained decoding; the tests script outputs with it)
 */
public record NemotronChatOptions(Scheduler scheduler, String modelName, Boolean reasoning, Integer thinkingBudget,
                                  ChatRequestParameters defaults, Supplier<LogitsHook> logitsProcessor) {
    public NemotronChatOptions {
        Objects.requireNonNull(scheduler, "scheduler");
        if (modelName == null) {
            modelName = scheduler.model().directory() != null
                    ? scheduler.model().directory().getFileName().toString() : "nemotron";
        }
        if (defaults == null) {
            defaults = ChatRequestParameters.builder().modelName(modelName).build();
        }
        if (thinkingBudget != null && thinkingBudget < 0) {
            throw new IllegalArgumentException("thinkingBudget must be >= 0, got " + thinkingBudget);
        }
    }

    /** Runs on {@code scheduler} with the template's defaults. */
    public static NemotronChatOptions of(Scheduler scheduler) {
        return new NemotronChatOptions(scheduler, null, null, null, null, null);
    }

    public NemotronChatOptions withModelName(String name) {
        return new NemotronChatOptions(scheduler, name, reasoning, thinkingBudget, null, logitsProcessor);
    }

    public NemotronChatOptions withReasoning(boolean on) {
        return new NemotronChatOptions(scheduler, modelName, on, thinkingBudget, defaults, logitsProcessor);
    }

    public NemotronChatOptions withThinkingBudget(int tokens) {
        return new NemotronChatOptions(scheduler, modelName, reasoning, tokens, defaults, logitsProcessor);
    }

    public NemotronChatOptions withDefaults(ChatRequestParameters parameters) {
        return new NemotronChatOptions(scheduler, modelName, reasoning, thinkingBudget, parameters, logitsProcessor);
    }

    public NemotronChatOptions withLogitsProcessor(Supplier<LogitsHook> processor) {
        return new NemotronChatOptions(scheduler, modelName, reasoning, thinkingBudget, defaults, processor);
    }

    /** Submits a request with a fresh logits processor, if any. */
    Scheduler.ScheduledRequest submit(org.nemotron4j.ChatRequest request) {
        return scheduler.submit(request, logitsProcessor == null ? null : logitsProcessor.get());
    }
}
