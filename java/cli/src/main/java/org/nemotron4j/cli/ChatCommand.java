package org.nemotron4j.cli;

import org.nemotron4j.ChatRequest;
import org.nemotron4j.Message;
import org.nemotron4j.NemotronException;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.serving.Scheduler;
import org.nemotron4j.serving.SchedulerOptions;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code chat}: a multi-turn conversation on stdin/stdout. Commands: {@code /think} and {@code /no_think} switch
 * reasoning, {@code /reset} starts over, {@code /exit} (or end of input) quits. Each turn renders the whole
 * conversation with the chat template (reasoning of earlier turns is dropped, as the template does), but does not
 * prefill all of it again: turns run on a {@link Scheduler} whose prefix cache keeps the model state at every block
 * of the prompts read so far, so a turn resumes from the longest cached prefix of the conversation and reads only
 * what is new (the last answer, the new message and less than one block). The cache is exact: the output is the
 * one a cold run of the whole conversation gives ({@code --no-prefix-cache} shows it).
 */
final class ChatCommand implements Command {
    @Override
    public String name() {
        return "chat";
    }

    @Override
    public String summary() {
        return "multi-turn chat on the terminal (/think, /no_think, /reset, /exit)";
    }

    @Override
    public List<String> description() {
        return List.of("Ctrl-C stops the current answer; a second Ctrl-C (or one at the prompt) exits.");
    }

    @Override
    public List<Opt> options() {
        List<Opt> all = new ArrayList<>(GenerationFlags.OPTIONS);
        all.add(Opt.flag("--no-prefix-cache", "read the whole conversation again each turn (as a cold run does)"));
        all.add(Opt.value("--prefix-cache-mb", "MB", "memory for the cached conversation states (default "
                + (SchedulerOptions.DEFAULT_PREFIX_CACHE_BYTES >> 20) + ")"));
        return all;
    }

    @Override
    public int run(Args a, PrintStream out, PrintStream err) {
        boolean reasoning = !a.flag("no-think");
        List<Message> history = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        long cacheBytes = a.flag("no-prefix-cache") ? 0 : a.longValue("prefix-cache-mb",
                SchedulerOptions.DEFAULT_PREFIX_CACHE_BYTES >> 20) << 20;
        if (cacheBytes < 0) {
            throw new Args.UsageException("chat: --prefix-cache-mb must be >= 0");
        }
        try (NemotronModel model = GenerationFlags.load(a, err);
             Scheduler scheduler = new Scheduler(model, SchedulerOptions.defaults().withMaxSequences(1)
                     .withPrefixCacheBytes(cacheBytes));
             ChatInterrupts interrupts = new ChatInterrupts(() -> {
                 err.println();
                 err.flush();
                 out.flush();
                 System.exit(130);  // a second Ctrl-C: leave, with the status an uncaught SIGINT gives
             }).install()) {
            err.println("chat with " + model.directory().getFileName() + " (/think, /no_think, /reset, /exit)");
            while (true) {
                err.print(reasoning ? "you> " : "you (no_think)> ");
                err.flush();
                String line = in.readLine();
                if (line == null || line.strip().equals("/exit") || line.strip().equals("/quit")) {
                    break;
                }
                String text = line.strip();
                switch (text) {
                    case "" -> {
                        continue;
                    }
                    case "/think" -> {
                        reasoning = true;
                        err.println("reasoning on");
                        continue;
                    }
                    case "/no_think" -> {
                        reasoning = false;
                        err.println("reasoning off");
                        continue;
                    }
                    case "/reset" -> {
                        history.clear();
                        err.println("conversation cleared");
                        continue;
                    }
                    default -> { }
                }
                List<Message> turn = new ArrayList<>();
                if (a.has("system")) {
                    turn.add(Message.system(a.string("system", "")));
                }
                turn.addAll(history);
                turn.add(Message.user(text));
                ChatRequest request = GenerationFlags.apply(a, ChatRequest.of(turn), reasoning);
                interrupts.beginAnswer();
                try (Scheduler.ScheduledRequest reply = scheduler.submit(request)) {
                    String answer = GenerationFlags.stream(reply, out, err, !a.flag("hide-reasoning"),
                            interrupts::stopRequested);
                    err.printf("[prompt %d tokens, %d of them from the prefix cache]%n", reply.promptTokens(),
                            reply.cachedPromptTokens());
                    history.add(Message.user(text));
                    history.add(Message.assistant(answer));
                } catch (NemotronException e) {
                    err.println("error: " + e.getMessage());
                } finally {
                    interrupts.endAnswer();
                }
            }
        } catch (IOException e) {
            throw new NemotronException("cannot read the terminal: " + e.getMessage(), e);
        }
        return 0;
    }
}
