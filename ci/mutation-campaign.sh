#!/usr/bin/env bash
# The mutation campaign (java/core/src/test/java/org/nemotron4j/fuzz/MutationCampaign.java): ~430 seeded checkpoint
# mutations and ~150 tokenizer mutations, each loaded and run in a child JVM with a timeout, classified as clean
# refusal / accepted / crash / hang / silent acceptance / unclean error. Not part of ci/test.sh (7-12 minutes with
# --jobs 3 on 2 busy cores). Run after a build (ci/test.sh, or `mvn install`), from anywhere:
#   ci/mutation-campaign.sh --jobs 3             # the whole campaign, seed 18, 3 child JVMs; exit 1 if anything bad
#   ci/mutation-campaign.sh --seed 7 --every 10  # another seed, every 10th mutation
#   ci/mutation-campaign.sh --only 12,10004 --keep   # reproduce two mutations, keep their files
# Output: the per-kind table on stdout, build/mutation-campaign/report.tsv (one line per mutation: what was mutated,
# what acceptance must look like, the verdict and the child's answer); the mutated inputs of bad outcomes stay in
# build/mutation-campaign/m<id>/.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/find-jdk.sh
repo=()
[ -d .m2repo ] && repo=("-Dmaven.repo.local=$PWD/.m2repo")
mkdir -p build/mutation-campaign
if [ ! -d java/core/target/test-classes/org/nemotron4j/fuzz ] || [ -n "$(find java/core/src -newer build/mutation-campaign/classpath.txt 2>/dev/null | head -1)" ] \
    || [ ! -f build/mutation-campaign/classpath.txt ]; then
  nice -n 19 mvn -B -ntp -q -o -Dstyle.color=never "${repo[@]}" -f java/core test-compile \
    dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$PWD/build/mutation-campaign/classpath.txt"
fi
cp="$PWD/java/core/target/test-classes:$PWD/java/core/target/classes:$(cat build/mutation-campaign/classpath.txt)"
exec nice -n 19 "$JAVA_HOME/bin/java" -Xmx2g --enable-native-access=ALL-UNNAMED -Dnemotron4j.library.dir="$PWD/build/native" \
  -cp "$cp" org.nemotron4j.fuzz.MutationCampaign --fixtures ../shared/fixtures --work build/mutation-campaign "$@"
