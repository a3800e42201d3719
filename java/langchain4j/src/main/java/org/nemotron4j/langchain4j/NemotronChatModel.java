package org.nemotron4j.langchain4j;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import org.nemotron4j.GenerationResult;
import org.nemotron4j.serving.Scheduler;

/**
 * LangChain4j's {@link ChatModel} over the in-process engine: the request (messages, tool specifications, sampling
 * parameters) goes through the checkpoint's chat template to the {@link Scheduler}; the answer comes back as the
 * AI message's text, the reasoning as its {@code thinking}, tool calls as tool execution requests, with token usage.
 * Thread-safe: concurrent calls are batched by the scheduler.
 *
 * <pre>{@code
 * try (var model = NemotronModel.load(dir, Device.cpu()); var scheduler = new Scheduler(model)) {
 *     ChatModel chat = new NemotronChatModel(NemotronChatOptions.of(scheduler).withReasoning(false));
 *     String answer = chat.chat("Why is the sky blue?");
 * }
 * }</pre>
 */
public final class NemotronChatModel implements ChatModel {
    private final NemotronChatOptions options;

    public NemotronChatModel(NemotronChatOptions options) {
        this.options = options;
    }

    /** A chat model on {@code scheduler} with the template's defaults. */
    public static NemotronChatModel of(Scheduler scheduler) {
        return new NemotronChatModel(NemotronChatOptions.of(scheduler));
    }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        org.nemotron4j.ChatRequest r = LangChainConversion.toNemotron(request, options.reasoning(),
                options.thinkingBudget());
        GenerationResult g;
        try (Scheduler.ScheduledRequest reply = options.submit(r)) {
            while (reply.hasNext()) {
                reply.next();
            }
            g = reply.result().join();
        }
        return LangChainConversion.toLangChain(g, options.modelName());
    }

    @Override
    public ChatRequestParameters defaultRequestParameters() {
        return options.defaults();
    }
}
