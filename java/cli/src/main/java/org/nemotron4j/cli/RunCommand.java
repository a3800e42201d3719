package org.nemotron4j.cli;

import org.nemotron4j.ChatRequest;
import org.nemotron4j.Message;
import org.nemotron4j.NemotronException;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;
import org.nemotron4j.generate.GenerationStream;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** {@code run}: one prompt in, the streamed answer out (reasoning dimmed on stderr). */
final class RunCommand implements Command {
    @Override
    public String name() {
        return "run";
    }

    @Override
    public String summary() {
        return "answer one prompt, streaming the reply (uses the demo model without --model)";
    }

    @Override
    public List<String> description() {
        return List.of("The prompt is --prompt TEXT (quote it), --prompt - (read from stdin) or --prompt-file FILE.");
    }

    @Override
    public List<Opt> options() {
        return GenerationFlags.options(
                Opt.value("--prompt,-p", "TEXT", "the user message; - reads it from stdin"),
                Opt.value("--prompt-file", "FILE", "read the user message from a file (UTF-8)"));
    }

    @Override
    public int run(Args a, PrintStream out, PrintStream err) {
        String prompt = prompt(a, System.in);
        List<Message> messages = new ArrayList<>();
        if (a.has("system")) {
            messages.add(Message.system(a.string("system", "")));
        }
        messages.add(Message.user(prompt));
        ChatRequest request = GenerationFlags.apply(a, ChatRequest.of(messages), !a.flag("no-think"));
        try (NemotronModel model = GenerationFlags.load(a, err);
             Session session = model.newSession();
             GenerationStream stream = session.stream(request)) {
            GenerationFlags.stream(stream, out, err, !a.flag("hide-reasoning"));
        }
        return 0;
    }

    /** The prompt from --prompt TEXT, --prompt - (stdin) or --prompt-file FILE; exactly one of them. */
    static String prompt(Args a, InputStream stdin) {
        if (a.has("prompt") == a.has("prompt-file")) {
            throw new Args.UsageException("run: give the prompt with --prompt TEXT, --prompt - (stdin) or --prompt-file FILE"
                    + (a.has("prompt") ? ", not both" : ""));
        }
        String prompt;
        if (a.has("prompt-file")) {
            Path file = a.path("prompt-file");
            try {
                prompt = Files.readString(file, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new NemotronException("cannot read the prompt file " + file + ": " + e.getMessage(), e);
            }
        } else if (a.string("prompt", "").equals("-")) {
            try {
                prompt = new String(stdin.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new NemotronException("cannot read the prompt from stdin: " + e.getMessage(), e);
            }
        } else {
            prompt = a.string("prompt", "");
        }
        if (prompt.isBlank()) {
            throw new Args.UsageException("run: --prompt is empty");
        }
        return prompt.strip();
    }
}
