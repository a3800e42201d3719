package org.nemotron4j.fuzz;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.nemotron4j.ModelConfig;
import org.nemotron4j.checkpoint.ModelGenerator;
import org.nemotron4j.fuzz.Mutation.Applied;
import org.nemotron4j.fuzz.Mutation.Expect;
import org.nemotron4j.tokenizer.DemoTokenizer;

/**
 * A mutation campaign over checkpoints and tokenizers, kept so that it can be re-run (ci/mutation-campaign.sh).
 * Every mutation is seeded (the campaign's seed and the mutation's number), written to a scratch directory, and run
 * through {@link MutationProbe} in a child JVM with a timeout: load, then a short forward (checkpoints: prefill,
 * one decode step, 4 greedy tokens) or tokenization (tokenizers). Each outcome is classified:
 * <ul>
 *   <li>{@code clean-refusal}: a NemotronException with a message, at load or in the forward;</li>
 *   <li>{@code accepted}: loaded and ran, with the outputs the mutation allows ({@link Expect}): identical to the
 *       unmutated input's where the file means the same, different where the mutation changes used weights;</li>
 *   <li>{@code crash}: the child JVM died (signal, hs_err file, exit);</li>
 *   <li>{@code hang}: no answer within the timeout (and again with three times the timeout in a fresh JVM);</li>
 *   <li>{@code silent}: a truncated, shifted or inconsistent file accepted, outputs unlike the mutation's meaning,
 *       or a token taken from non-finite logits;</li>
 *   <li>{@code unclean}: any other throwable (an unchecked exception, StackOverflowError, OutOfMemoryError).</li>
 * </ul>
 * Options: {@code --seed N} (18), {@code --work DIR}, {@code --fixtures DIR}, {@code --timeout SECONDS} (60),
 * {@code --only ID,ID} (reproduce some), {@code --every K} (every K-th mutation: a quick sample), {@code --jobs N}
 * (N child JVMs at once; the report keeps the mutations' order), {@code --keep}
 * (keep every mutated input; those of crash/hang/silent/unclean are always kept). Exit status 1 when any crash,
 * hang, silent acceptance or unclean error was found.
 */
public final class MutationCampaign {
    enum Verdict { CLEAN_REFUSAL, ACCEPTED, CRASH, HANG, SILENT, UNCLEAN;
        String label() {
            return name().toLowerCase().replace('_', '-');
        }

        boolean bad() {
            return this != CLEAN_REFUSAL && this != ACCEPTED;
        }
    }

    record Outcome(Mutation mutation, Applied applied, Verdict verdict, String answer, String why) {
    }

    private final long seed;
    private final Path work;
    private final Path fixtures;
    private final long timeoutSeconds;
    private final boolean keep;
    private final Map<String, Path> bases = new LinkedHashMap<>();
    final Map<String, String> baselines = new java.util.concurrent.ConcurrentHashMap<>();
    private final PrintStream log;
    /** Child JVMs running at once (one worker each); the outcomes do not depend on it. */
    int jobs = 1;
    private final ThreadLocal<Worker> worker = new ThreadLocal<>();
    private final List<Worker> workers = java.util.Collections.synchronizedList(new ArrayList<>());

    MutationCampaign(long seed, Path work, Path fixtures, long timeoutSeconds, boolean keep, PrintStream log) {
        this.seed = seed;
        this.work = work;
        this.fixtures = fixtures;
        this.timeoutSeconds = timeoutSeconds;
        this.keep = keep;
        this.log = log;
    }

    public static void main(String[] args) throws Exception {
        long seed = 18;
        Path work = Path.of("build/mutation-campaign");
        Path fixtures = Path.of("../shared/fixtures");
        long timeout = 60;
        Set<Integer> only = null;
        int every = 1;
        boolean keep = false;
        int jobs = 1;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--seed" -> seed = Long.parseLong(args[++i]);
                case "--work" -> work = Path.of(args[++i]);
                case "--fixtures" -> fixtures = Path.of(args[++i]);
                case "--timeout" -> timeout = Long.parseLong(args[++i]);
                case "--only" -> only = Stream.of(args[++i].split(",")).map(Integer::valueOf).collect(Collectors.toSet());
                case "--every" -> every = Integer.parseInt(args[++i]);
                case "--keep" -> keep = true;
                case "--jobs" -> jobs = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        MutationCampaign campaign = new MutationCampaign(seed, work.toAbsolutePath(), fixtures.toAbsolutePath(),
                timeout, keep, System.out);
        campaign.jobs = jobs;
        Set<Integer> selected = only;
        int step = every;
        int[] status = {0};
        // deep JSON trees (nested sequences) are written recursively: a thread with a large stack
        Thread t = new Thread(null, () -> {
            try {
                status[0] = campaign.run(selected, step);
            } catch (Exception e) {
                e.printStackTrace();
                status[0] = 2;
            }
        }, "campaign", 1L << 30);
        t.start();
        t.join();
        System.exit(status[0]);
    }

    /** All mutations of this campaign's seed, in order. */
    List<Mutation> mutations() {
        Random master = new Random(seed);
        List<Mutation> all = new ArrayList<>(CheckpointMutations.all(master,
                List.of("tiny", "tiny-fp8", "gen-sharded"), "tiny-fp8", "gen-sharded", 1));
        all.addAll(TokenizerMutations.all(master, List.of("demo", "gpt4o", "llama3", "qwen3"), 10_001));
        return all;
    }

    int run(Set<Integer> only, int every) throws Exception {
        Files.createDirectories(work);
        prepareBases();
        List<Mutation> all = mutations();
        List<Mutation> chosen = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            Mutation m = all.get(i);
            if (only != null ? only.contains(m.id()) : i % every == 0) {
                chosen.add(m);
            }
        }
        log.printf("mutation campaign: seed %d, %d mutations (%d checkpoint, %d tokenizer), timeout %d s, work %s%n",
                seed, chosen.size(), chosen.stream().filter(m -> m.target() == Mutation.Target.CHECKPOINT).count(),
                chosen.stream().filter(m -> m.target() == Mutation.Target.TOKENIZER).count(), timeoutSeconds, work);
        // the unmutated inputs first: each must give one answer twice (a broken setup stops here)
        for (Mutation m : chosen) {
            baseline(m);
        }
        List<Outcome> outcomes = new ArrayList<>();
        Path report = work.resolve("report.tsv");
        long start = System.nanoTime();
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(jobs, r -> {
            Thread t = new Thread(null, r, "campaign-job", 1L << 30);
            t.setDaemon(true);
            return t;
        });
        try (Writer tsv = Files.newBufferedWriter(report)) {
            tsv.write("id\ttarget\tbase\tkind\tflags\texpect\tverdict\tdetail\tanswer\twhy\n");
            List<java.util.concurrent.Future<Outcome>> futures = new ArrayList<>();
            for (Mutation m : chosen) {
                futures.add(pool.submit(() -> runOne(m)));
            }
            for (java.util.concurrent.Future<Outcome> future : futures) {
                Outcome o;
                try {
                    o = future.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new IllegalStateException("the campaign itself failed", e.getCause());
                }
                Mutation m = o.mutation();
                outcomes.add(o);
                tsv.write(String.join("\t", String.valueOf(m.id()), m.target().name().toLowerCase(), m.base(),
                        m.kind(), m.flags(), o.applied().expect().name(), o.verdict().label(),
                        o.applied().detail(), o.answer().replace("\t", " | "), o.why()) + "\n");
                tsv.flush();
                if (o.verdict().bad()) {
                    log.printf("  #%d %s %s [%s]: %s -- %s -- %s%n", m.id(), m.base(), m.kind(), o.verdict().label(),
                            o.applied().detail(), o.why(), o.answer());
                } else if (outcomes.size() % 25 == 0) {
                    log.printf("  %d/%d done (%.0f s)%n", outcomes.size(), chosen.size(),
                            (System.nanoTime() - start) / 1e9);
                }
            }
        } finally {
            pool.shutdownNow();
            synchronized (workers) {
                workers.forEach(Worker::close);
            }
        }
        printSummary(outcomes, (System.nanoTime() - start) / 1e9);
        log.println("report: " + report);
        return outcomes.stream().anyMatch(o -> o.verdict().bad()) ? 1 : 0;
    }

    void prepareBases() throws IOException {
        bases.put("tiny", fixtures.resolve("nemotron-h-tiny"));
        bases.put("tiny-fp8", fixtures.resolve("nemotron-h-tiny-fp8"));
        Path sharded = work.resolve("bases/gen-sharded");
        if (!Files.exists(sharded.resolve("model.safetensors.index.json"))) {
            // a generated model (seed 11) in the tiny fixture's shape, in 3 shards of at most 150 kB
            ModelGenerator.generate(ModelConfig.read(fixtures.resolve("nemotron-h-tiny/config.json")), sharded, 11,
                    false, 150_000, null);
        }
        bases.put("gen-sharded", sharded);
        Path demo = work.resolve("bases/demo");
        if (!Files.exists(demo.resolve("tokenizer.json"))) {
            DemoTokenizer.write(demo);
        }
        bases.put("demo", demo.resolve("tokenizer.json"));
        for (String t : List.of("gpt4o", "llama3", "qwen3")) {
            bases.put(t, fixtures.resolve("tokenizers/" + t + "/tokenizer.json"));
        }
    }

    Path basePath(String base) {
        return bases.get(base);
    }

    Outcome runOne(Mutation m) throws IOException {
        Path dir = work.resolve("m" + m.id());
        deleteTree(dir);
        Files.createDirectories(dir);
        Applied applied = m.apply(bases.get(m.base()), dir);
        if (m.kind().startsWith("nan-inf") && m.flags().contains(",check") && applied.expect() == Expect.ANY) {
            applied = new Applied(applied.path(), applied.detail(), Expect.REFUSE); // --check-tensors must refuse
        }
        String job = m.target() == Mutation.Target.CHECKPOINT
                ? "C\t" + applied.path() + "\t" + m.flags()
                : "T\t" + applied.path();
        String answer = ask(job, timeoutSeconds);
        if (answer.startsWith("HANG")) {
            answer = ask(job, 3 * timeoutSeconds); // once more, on a fresh JVM with longer patience
        }
        Outcome o = classify(m, applied, answer);
        if (!keep && !o.verdict().bad()) {
            deleteTree(dir);
        }
        return o;
    }

    /** The unmutated input's answer, with the same flags. */
    String baseline(Mutation m) {
        String key = m.base() + "|" + m.flags();
        return baselines.computeIfAbsent(key, k -> {
            String job = m.target() == Mutation.Target.CHECKPOINT
                    ? "C\t" + bases.get(m.base()) + "\t" + m.flags()
                    : "T\t" + bases.get(m.base());
            String a = ask(job, 3 * timeoutSeconds);
            String again = ask(job, 3 * timeoutSeconds);
            if (!a.startsWith("ACCEPTED") || !a.equals(again)) {
                throw new IllegalStateException("the unmutated " + m.base() + " does not give one answer: " + a
                        + " / " + again);
            }
            log.println("  baseline " + k + ": " + a);
            return a;
        });
    }

    Outcome classify(Mutation m, Applied applied, String answer) {
        String[] f = answer.split("\t");
        Verdict v;
        String why = "";
        switch (f[0]) {
            case "REFUSED" -> v = Verdict.CLEAN_REFUSAL;
            case "UNCLEAN" -> v = Verdict.UNCLEAN;
            case "CRASH" -> v = Verdict.CRASH;
            case "HANG" -> v = Verdict.HANG;
            case "ACCEPTED" -> {
                v = Verdict.ACCEPTED;
                String base = baseline(m);
                boolean same = m.target() == Mutation.Target.CHECKPOINT
                        ? f[1].equals(base.split("\t")[1]) && f[2].equals(base.split("\t")[2])
                        : f[1].equals(base.split("\t")[1]);
                why = same ? "same outputs" : "outputs changed";
                if (applied.expect() == Expect.REFUSE) {
                    v = Verdict.SILENT;
                    why = "must be refused, was accepted (" + why + ")";
                } else if (applied.expect() == Expect.SAME && !same) {
                    v = Verdict.SILENT;
                    why = "means the same file, outputs changed";
                } else if (applied.expect() == Expect.CHANGE && same) {
                    v = Verdict.SILENT;
                    why = "changes used weights, outputs identical (not read where it should be?)";
                } else if (answer.contains("finite=false") && !answer.contains("greedy=REFUSED")) {
                    v = Verdict.SILENT;
                    why = "a token taken from non-finite logits";
                } else if (answer.contains("finite=false")) {
                    why += ", non-finite logits, greedy refused";
                }
            }
            default -> {
                v = Verdict.UNCLEAN;
                why = "unparsable answer";
            }
        }
        return new Outcome(m, applied, v, answer, why);
    }

    void printSummary(List<Outcome> outcomes, double seconds) {
        for (Mutation.Target target : Mutation.Target.values()) {
            List<Outcome> of = outcomes.stream().filter(o -> o.mutation().target() == target).toList();
            if (of.isEmpty()) {
                continue;
            }
            log.printf("%n%s mutations: %d%n", target.name().toLowerCase(), of.size());
            log.printf("  %-22s %5s", "kind", "n");
            for (Verdict v : Verdict.values()) {
                log.printf(" %14s", v.label());
            }
            log.println();
            Map<String, List<Outcome>> byKind = new TreeMap<>();
            for (Outcome o : of) {
                byKind.computeIfAbsent(o.mutation().kind(), k -> new ArrayList<>()).add(o);
            }
            byKind.put("~TOTAL", of);
            byKind.forEach((kind, list) -> {
                Map<Verdict, Long> counts = new EnumMap<>(Verdict.class);
                list.forEach(o -> counts.merge(o.verdict(), 1L, Long::sum));
                log.printf("  %-22s %5d", kind.equals("~TOTAL") ? "TOTAL" : kind, list.size());
                for (Verdict v : Verdict.values()) {
                    log.printf(" %14d", counts.getOrDefault(v, 0L));
                }
                log.println();
            });
            Map<String, Long> accepted = of.stream().filter(o -> o.verdict() == Verdict.ACCEPTED)
                    .collect(Collectors.groupingBy(o -> o.applied().expect() + ": " + o.why(), TreeMap::new,
                            Collectors.counting()));
            log.println("  accepted, by expectation: " + accepted);
            Map<String, Long> stages = of.stream().filter(o -> o.verdict() == Verdict.CLEAN_REFUSAL)
                    .collect(Collectors.groupingBy(o -> o.answer().split("\t")[1], TreeMap::new, Collectors.counting()));
            log.println("  refused, by stage: " + stages);
        }
        Map<Verdict, Long> total = new EnumMap<>(Verdict.class);
        outcomes.forEach(o -> total.merge(o.verdict(), 1L, Long::sum));
        log.printf("%nall: %d mutations in %.0f s: %s%n", outcomes.size(), seconds, total.entrySet().stream()
                .map(e -> e.getKey().label() + " " + e.getValue()).collect(Collectors.joining(", ")));
    }

    // ---- the child JVM

    String ask(String job, long seconds) {
        try {
            Worker w = worker.get();
            if (w == null || !w.process.isAlive()) {
                w = new Worker(work);
                workers.add(w);
                worker.set(w);
            }
            String a = w.ask(job, seconds);
            if (!a.startsWith("ACCEPTED") && !a.startsWith("REFUSED")) {
                w.close(); // after a crash, a hang or an Error, the next job gets a fresh JVM
                workers.remove(w);
                worker.remove();
            }
            return a;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static final class Worker implements AutoCloseable {
        final Process process;
        final Writer in;
        final LinkedBlockingQueue<String> answers = new LinkedBlockingQueue<>();
        final Path errorDir;

        Worker(Path work) throws IOException {
            errorDir = work.resolve("jvm-" + System.nanoTime());
            Files.createDirectories(errorDir);
            String java = ProcessHandle.current().info().command().orElse(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString());
            List<String> cmd = new ArrayList<>(List.of(java, "-Xmx1g", "-Xss1m", "-XX:+UseSerialGC",
                    "-XX:ErrorFile=" + errorDir.resolve("hs_err_pid%p.log"), "--enable-native-access=ALL-UNNAMED",
                    "-cp", absolute(System.getProperty("java.class.path"))));
            String libDir = System.getProperty("nemotron4j.library.dir");
            if (libDir != null) {
                cmd.add("-Dnemotron4j.library.dir=" + libDir);
            }
            cmd.add(MutationProbe.class.getName());
            process = new ProcessBuilder(cmd).directory(errorDir.toFile())
                    .redirectError(errorDir.resolve("stderr.txt").toFile()).start();
            in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
            Thread reader = new Thread(() -> {
                try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(),
                        StandardCharsets.UTF_8))) {
                    for (String line; (line = out.readLine()) != null; ) {
                        if (line.startsWith("@@\t")) {
                            answers.add(line.substring(3));
                        }
                    }
                } catch (IOException ignored) {
                    // the process died: seen below
                }
                answers.add("EOF");
            }, "probe-reader");
            reader.setDaemon(true);
            reader.start();
        }

        String ask(String job, long seconds) throws IOException {
            try {
                in.write(job + "\n");
                in.flush();
            } catch (IOException e) {
                return crash();
            }
            try {
                String a = answers.poll(seconds, TimeUnit.SECONDS);
                if (a == null) {
                    close();
                    return "HANG\tno answer in " + seconds + " s";
                }
                return a.equals("EOF") ? crash() : a;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
        }

        String crash() throws IOException {
            try {
                process.waitFor(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            String hsErr;
            try (Stream<Path> files = Files.list(errorDir)) {
                hsErr = files.filter(p -> p.getFileName().toString().startsWith("hs_err"))
                        .map(Path::toString).collect(Collectors.joining(","));
            }
            String exit = process.isAlive() ? "alive" : String.valueOf(process.exitValue());
            List<String> err = Files.readAllLines(errorDir.resolve("stderr.txt"));
            String tail = err.stream().skip(Math.max(0, err.size() - 3)).collect(Collectors.joining(" | "));
            return "CRASH\texit " + exit + (hsErr.isEmpty() ? "" : " hs_err " + hsErr) + "\t" + tail;
        }

        @Override
        public void close() {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            try {
                process.waitFor(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The class path with every entry absolute (the child runs in a directory of its own). */
    static String absolute(String classPath) {
        return Stream.of(classPath.split(java.io.File.pathSeparator)).filter(e -> !e.isEmpty())
                .map(e -> Path.of(e).toAbsolutePath().toString()).collect(Collectors.joining(java.io.File.pathSeparator));
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
