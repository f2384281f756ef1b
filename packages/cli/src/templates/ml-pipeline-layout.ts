/**
 * What `custody layout init` writes: a commented layout for the common ML pipeline
 * fetch-model → train → evaluate → build-image, one functionary key per role. Every command
 * and folder is a placeholder the author edits; the rules already chain the steps together.
 */
export const INIT_KEYS = ['owner', 'ml-engineer', 'evaluator', 'release-engineer'] as const;

export const INIT_LAYOUT = `# custody layout: fetch-model → train → evaluate → build-image
#
# Written by \`custody layout init\`. Edit the commands (run / expected_command) and folders,
# then:
#   custody layout lint layout.yaml
#   custody layout sign layout.yaml --key keys/owner --format dsse -o root.layout
#   custody pipeline run root.layout --layout-key keys/owner.pub --param MODEL_URL=…
#   custody verify --layout root.layout --layout-key keys/owner.pub --param MODEL_URL=…
# DSSE (--format dsse), because run, plugins and expectedPredicates are custody fields that a
# legacy in-toto signature would not cover. \`custody pipeline run\` needs a config naming each
# step's key: custody.config.json { "functionaries": { "fetch-model": "keys/ml-engineer", … } }.
#
# Rules: every step names its own folder (base-model/, model/, eval/, image/). MATCH … FROM
# proves a step consumed exactly what the step before it produced; a targeted DISALLOW ends each
# list, so unrelated files in the working folder do not fail a step.
expires: 1y                       # from signing time; or an ISO date: "2027-12-31T00:00:00Z"
readme: >-
  A base model fetched at a pinned revision, fine-tuned, evaluated against a quality bar, and
  shipped in an OCI image whose weights must be exactly what train produced.
keys:                             # name: public key file, relative to this file
  ml-engineer: keys/ml-engineer.pub
  evaluator: keys/evaluator.pub
  release-engineer: keys/release-engineer.pub

steps:
  - name: fetch-model
    pubkeys: [ml-engineer]        # who may sign this step's link
    # {MODEL_URL} is a parameter: --param MODEL_URL=… at pipeline run and at verify
    run: [git, clone, --depth, "1", "{MODEL_URL}", base-model]
    expected_command: [git, clone, --depth, "1", "{MODEL_URL}", base-model]
    plugins:
      - name: model               # reads the model card, license and weights of base-model/
        options: { dir: base-model }
    expected_materials:
      - "DISALLOW base-model/*"   # nothing of the model may exist before the fetch
    expected_products:
      - "CREATE base-model/*"
      - "DISALLOW base-model/*"
    expectedPredicates:
      - predicateType: "https://custody.dev/attestation/model/v0.1"
        expectedAttributes:
          - rule: "predicate.license.spdxId == 'MIT'"
            debug: "only MIT-licensed base models"
          - rule: "predicate.totals.lfsPointers == 0"
            debug: "the weights are real files, not Git LFS pointers"

  - name: train
    pubkeys: [ml-engineer]
    run: [python, train.py, --base-model, base-model, --out, model]
    expected_command: [python, train.py, --base-model, base-model, --out, model]
    plugins:
      - name: model
        options: { dir: model }
    expected_materials:
      # training saw exactly the fetched base model
      - "MATCH base-model/* WITH PRODUCTS FROM fetch-model"
      - "DISALLOW base-model/*"
      - "DISALLOW model/*"
    expected_products:
      - "CREATE model/*"
      - "MATCH base-model/* WITH PRODUCTS FROM fetch-model"
      - "DISALLOW base-model/*"
      - "DISALLOW model/*"

  - name: evaluate
    pubkeys: [evaluator]          # another person than the trainer signs the evaluation
    run: [python, evaluate.py, --model, model, --out, eval]
    expected_command: [python, evaluate.py, --model, model, --out, eval]
    expected_materials:
      - "MATCH model/* WITH PRODUCTS FROM train"
      - "DISALLOW model/*"
      - "DISALLOW eval/*"
    expected_products:
      - "CREATE eval/metrics.json"
      - "MATCH model/* WITH PRODUCTS FROM train"
      - "DISALLOW model/*"
      - "DISALLOW eval/*"

  - name: build-image
    pubkeys: [release-engineer]
    run: [buildah, build, --file, Containerfile, --tag, "oci:image"]
    expected_command: [buildah, build, --file, Containerfile, --tag, "oci:image"]
    expected_materials:
      # the image is built from train's weights, and only after they were evaluated
      - "MATCH model/* WITH PRODUCTS FROM train"
      - "MATCH eval/* WITH PRODUCTS FROM evaluate"
      - "DISALLOW model/*"
      - "DISALLOW eval/*"
      - "DISALLOW image/*"
    expected_products:
      - "CREATE image/*"
      - "MATCH model/* WITH PRODUCTS FROM train"
      - "DISALLOW model/*"
      - "DISALLOW image/*"

inspect: []                       # checks verify runs itself (e.g. unpack the image, compare the weights)
`;
