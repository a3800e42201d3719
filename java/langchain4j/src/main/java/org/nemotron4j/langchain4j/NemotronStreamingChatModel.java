package org.nemotron4j.langchain4j;

import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.PartialThinking;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import org.nemotron4j.Channel;
import org.nemotron4j.GenerationDelta;
import org.nemotron4j.chat.ToolCallParser;
import org.nemotron4j.serving.Scheduler;

/**
 * LangChain4j's {@link StreamingChatModel} over the in-process engine: reasoning arrives as
 * {@link StreamingChatResponseHandler#onPartialThinking}, answer text as
 * {@link StreamingChatResponseHandler#onPartialResponse} (a tool call's {@code <TOOLCALL>} block is held back and
 * delivered as tool execution requests of the complete response), then
 * {@link StreamingChatResponseHandler#onCompleteResponse} with the whole message and token usage, or
 * {@link StreamingChatResponseHandler#onError}. {@code chat} returns at once; the handler is called from a virtual
 * thread.
 */
public final class NemotronStreamingChatModel implements StreamingChatModel {
    private final NemotronChatOptions options;

    public NemotronStreamingChatModel(NemotronChatOptions options) {
        this.options = options;
    }

    /** A streaming chat model on {@code scheduler} with the template's defaults. */
    public static NemotronStreamingChatModel of(Scheduler scheduler) {
        return new NemotronStreamingChatModel(NemotronChatOptions.of(scheduler));
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        Scheduler.ScheduledRequest reply;
        try {
            reply = options.submit(LangChainConversion.toNemotron(request, options.reasoning(),
                    options.thinkingBudget()));
        } catch (RuntimeException e) {
            handler.onError(e);
            return;
        }
        Thread.ofVirtual().name("nemotron4j-langchain4j-stream").start(() -> stream(reply, handler));
    }

    private void stream(Scheduler.ScheduledRequest reply, StreamingChatResponseHandler handler) {
        try (reply) {
            ToolCallHold hold = new ToolCallHold();
            while (reply.hasNext()) {
                GenerationDelta d = reply.next();
                if (d.text().isEmpty()) {
                    continue;
                }
                if (d.channel() == Channel.REASONING) {
                    handler.onPartialThinking(new PartialThinking(d.text()));
                } else {
                    String text = hold.push(d.text());
                    if (!text.isEmpty()) {
                        handler.onPartialResponse(text);
                    }
                }
            }
            String rest = hold.flush();
            if (!rest.isEmpty()) {
                handler.onPartialResponse(rest);
            }
            handler.onCompleteResponse(LangChainConversion.toLangChain(reply.result().join(), options.modelName()));
        } catch (RuntimeException e) {
            handler.onError(e instanceof java.util.concurrent.CompletionException c && c.getCause() != null
                    ? c.getCause() : e);
        }
    }

    @Override
    public ChatRequestParameters defaultRequestParameters() {
        return options.defaults();
    }

    /** Passes answer text until a {@code <TOOLCALL>} tag starts (a possible start of the tag is held back). */
    static final class ToolCallHold {
        private final StringBuilder held = new StringBuilder();
        private boolean inCall;

        String push(String text) {
            if (inCall) {
                return "";
            }
            held.append(text);
            int tag = held.indexOf(ToolCallParser.OPEN_TAG);
            if (tag >= 0) {
                inCall = true;
                return held.substring(0, tag);
            }
            int keep = 0;
            String open = ToolCallParser.OPEN_TAG;
            for (int k = Math.min(open.length() - 1, held.length()); k > 0; k--) {
                if (open.startsWith(held.substring(held.length() - k))) {
                    keep = k;
                    break;
                }
            }
            String out = held.substring(0, held.length() - keep);
            held.delete(0, held.length() - keep);
            return out;
        }

        /** At the end: text held back as a possible tag start that turned out not to be one. */
        String flush() {
            if (inCall) {
                return "";
            }
            String out = held.toString();
            held.setLength(0);
            return out;
        }
    }
}
