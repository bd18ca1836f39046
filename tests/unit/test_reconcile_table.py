"""The reconciler, table-driven, with a fixed clock: given a spec and what happened so far (the
inputs of earlier reconciles: finished jobs, lost attempts, commands), the next decision.

Each row drives `Operator.reconcile` exactly as `WorkflowRunner` does (see reconcile_harness.py)
and compares the summarised decision (`init`/`start`/`finish` of nodes, `run` of jobs with their
resolved command, `kill`, `wake`, workflow `exiting`/`completed`) with the row's expectation. Every
row is checked twice: by the operator that decided the earlier steps, and by a new operator over
the log folded from scratch (a restarted controller must decide the same: no hidden state).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import pytest
from reconcile_harness import At, Harness, error, fail, ok


def spec(body: str) -> str:
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: wf}\nspec:\n"
        + textwrap.indent(textwrap.dedent(body).strip("\n"), "  ")
        + "\n"
    )


POD = spec("""
entrypoint: main
templates:
- name: main
  container: {image: alpine, command: [echo, hello]}
""")
POD_OUT = spec("""
entrypoint: main
templates:
- name: main
  container: {image: alpine, command: [sh, -c, "echo 7 > /tmp/n"]}
  outputs:
    parameters:
    - name: n
      valueFrom: {path: /tmp/n}
""")
POD_INPUT = spec("""
entrypoint: main
arguments:
  parameters: [{name: who, value: world}]
templates:
- name: main
  inputs:
    parameters: [{name: who}]
  script:
    image: python
    command: [python]
    source: print("hello {{inputs.parameters.who}}")
""")
PARALLEL2 = spec("""
entrypoint: main
parallelism: 1
templates:
- name: main
  steps:
  - - {name: a, template: w}
    - {name: b, template: w}
- name: w
  container: {image: alpine, command: ["true"]}
""")
RETRY = spec("""
entrypoint: main
templates:
- name: main
  retryStrategy: {limit: 2}
  container: {image: alpine, command: [flaky]}
""")
RETRY_BACKOFF = spec("""
entrypoint: main
templates:
- name: main
  retryStrategy:
    limit: 3
    backoff: {duration: "10", factor: 2}
  container: {image: alpine, command: [flaky]}
""")
RETRY_ONERROR = spec("""
entrypoint: main
templates:
- name: main
  retryStrategy: {limit: 3, retryPolicy: OnError}
  container: {image: alpine, command: [flaky]}
""")
RETRY_EXPR = spec("""
entrypoint: main
templates:
- name: main
  retryStrategy:
    limit: 5
    retryPolicy: Always
    expression: "asInt(lastRetry.exitCode) == 75"
  container: {image: alpine, command: [flaky]}
""")
STEPS = spec("""
entrypoint: main
templates:
- name: main
  steps:
  - - {name: a, template: say, arguments: {parameters: [{name: m, value: one}]}}
  - - name: b
      template: say
      arguments: {parameters: [{name: m, value: "{{steps.a.outputs.result}}"}]}
    - name: c
      template: say
      arguments: {parameters: [{name: m, value: three}]}
      when: "{{steps.a.outputs.result}} == nope"
- name: say
  inputs: {parameters: [{name: m}]}
  container: {image: alpine, command: [echo, "{{inputs.parameters.m}}"]}
""")
STEPS_CONTINUE = spec("""
entrypoint: main
templates:
- name: main
  steps:
  - - {name: a, template: w, continueOn: {failed: true}}
  - - {name: b, template: w}
- name: w
  container: {image: alpine, command: [work]}
""")
DAG = spec("""
entrypoint: main
templates:
- name: main
  dag:
    tasks:
    - {name: A, template: w}
    - {name: B, template: w, dependencies: [A]}
    - {name: C, template: w, depends: "A.Failed"}
    - {name: D, template: w, depends: "B && C"}
- name: w
  container: {image: alpine, command: [work]}
""")
DAG_FAILFAST = spec("""
entrypoint: main
templates:
- name: main
  dag:
    tasks:
    - {name: A, template: w}
    - {name: B, template: slow}
    - {name: C, template: w, dependencies: [A]}
- name: w
  container: {image: alpine, command: [work]}
- name: slow
  container: {image: alpine, command: [sleep, "5"]}
""")
DAG_TARGET = spec("""
entrypoint: main
templates:
- name: main
  dag:
    target: B
    tasks:
    - {name: A, template: w}
    - {name: B, template: w, dependencies: [A]}
    - {name: C, template: w}
- name: w
  container: {image: alpine, command: [work]}
""")
DAG_OUTPUTS = spec("""
entrypoint: main
templates:
- name: main
  dag:
    tasks:
    - {name: gen, template: gen}
    - name: use
      template: echo
      arguments: {parameters: [{name: v, value: "{{tasks.gen.outputs.parameters.n}}"}]}
  outputs:
    parameters:
    - name: final
      valueFrom: {parameter: "{{tasks.gen.outputs.parameters.n}}"}
- name: gen
  container: {image: alpine, command: [gen]}
  outputs: {parameters: [{name: n, valueFrom: {path: /tmp/n}}]}
- name: echo
  inputs: {parameters: [{name: v}]}
  container: {image: alpine, command: [echo, "{{inputs.parameters.v}}"]}
""")
EXIT = spec("""
entrypoint: main
onExit: bye
templates:
- name: main
  container: {image: alpine, command: [work]}
- name: bye
  container: {image: alpine, command: [echo, "{{workflow.status}}"]}
""")
EXIT_HANDLERS = spec("""
entrypoint: main
exitHandlers:
- {name: notify, template: bye, when: "{{workflow.status}} != Succeeded"}
- {name: always, template: bye}
templates:
- name: main
  container: {image: alpine, command: [work]}
- name: bye
  container: {image: alpine, command: [echo, "{{workflow.status}}"]}
""")
STEP_ONEXIT = spec("""
entrypoint: main
templates:
- name: main
  steps:
  - - {name: a, template: w, onExit: bye}
  - - {name: b, template: w}
- name: w
  container: {image: alpine, command: [work]}
- name: bye
  container: {image: alpine, command: [echo, bye]}
""")
WF_HOOK = spec("""
entrypoint: main
hooks:
  running:
    expression: workflow.status == "Running"
    template: note
templates:
- name: main
  container: {image: alpine, command: [work]}
- name: note
  container: {image: alpine, command: [echo, running]}
""")
TASK_HOOK = spec("""
entrypoint: main
templates:
- name: main
  dag:
    tasks:
    - name: A
      template: w
      hooks:
        failed: {expression: 'tasks.A.status == "Failed"', template: alert}
- name: w
  container: {image: alpine, command: [work]}
- name: alert
  container: {image: alpine, command: [echo, alert]}
""")
ITEMS = spec("""
entrypoint: main
templates:
- name: main
  steps:
  - - name: s
      template: say
      arguments: {parameters: [{name: m, value: "{{item}}"}]}
      withItems: [x, y]
- name: say
  inputs: {parameters: [{name: m}]}
  container: {image: alpine, command: [echo, "{{inputs.parameters.m}}"]}
""")
PARAM = spec("""
entrypoint: main
templates:
- name: main
  steps:
  - - {name: gen, template: gen}
  - - name: s
      template: say
      arguments: {parameters: [{name: m, value: "{{item.k}}"}]}
      withParam: "{{steps.gen.outputs.result}}"
- name: gen
  container: {image: alpine, command: [gen]}
- name: say
  inputs: {parameters: [{name: m}]}
  container: {image: alpine, command: [echo, "{{inputs.parameters.m}}"]}
""")
SEQ = spec("""
entrypoint: main
templates:
- name: main
  dag:
    tasks:
    - name: t
      template: say
      arguments: {parameters: [{name: m, value: "{{item}}"}]}
      withSequence: {count: "3", start: "1", format: "n%02d"}
- name: say
  inputs: {parameters: [{name: m}]}
  container: {image: alpine, command: [echo, "{{inputs.parameters.m}}"]}
""")
EMPTY = spec("""
entrypoint: main
templates:
- name: main
  steps:
  - - {name: s, template: w, withItems: []}
- name: w
  container: {image: alpine, command: [work]}
""")
DEADLINE = spec("""
entrypoint: main
activeDeadlineSeconds: 30
onExit: bye
templates:
- name: main
  container: {image: alpine, command: [sleep, "60"]}
- name: bye
  container: {image: alpine, command: [echo, "{{workflow.status}}"]}
""")
TIMEOUT = spec("""
entrypoint: main
templates:
- name: main
  timeout: "{{inputs.parameters.t}}s"
  inputs: {parameters: [{name: t, value: "7"}]}
  container: {image: alpine, command: [sleep, "60"]}
""")
SEQ_STEPS = spec("""
entrypoint: main
onExit: bye
templates:
- name: main
  steps:
  - - {name: a, template: w}
  - - {name: b, template: w}
- name: w
  container: {image: alpine, command: [work]}
- name: bye
  container: {image: alpine, command: [echo, bye]}
""")


@dataclass(frozen=True)
class Row:
    id: str
    spec: str
    given: list[At]
    when: At
    then: str


ROWS = [
    # pods
    Row(
        "pod: first reconcile starts the workflow and its one pod",
        POD,
        [],
        At(0),
        """
        started
        init @ Pod
        start @
        run @: echo hello
        """,
    ),
    Row(
        "pod: success records logs, finishes, exits, completes",
        POD,
        [At(0)],
        At(1, {"@": ok("hello\n")}),
        """
        logged @
        finish @ Succeeded
        exiting Succeeded
        completed Succeeded
        """,
    ),
    Row(
        "pod: failure fails the workflow",
        POD,
        [At(0)],
        At(2, {"@": fail(3)}),
        """
        logged @
        finish @ Failed: exit code 3
        exiting Failed: exit code 3
        completed Failed: exit code 3
        """,
    ),
    Row(
        "pod: error is the workflow's error",
        POD,
        [At(0)],
        At(2, {"@": error("image not found")}),
        """
        logged @
        finish @ Error: image not found
        exiting Error: image not found
        completed Error: image not found
        """,
    ),
    Row(
        "pod: output parameter read from its file, newline stripped",
        POD_OUT,
        [At(0)],
        At(1, {"@": ok(n="7\n")}),
        """
        logged @
        finish @ Succeeded n=7
        exiting Succeeded
        completed Succeeded
        """,
    ),
    Row(
        "pod: missing output file errors a succeeded pod",
        POD_OUT,
        [At(0)],
        At(1, {"@": ok(n=None)}),
        """
        logged @
        finish @ Error: failed to get output parameter 'n': /tmp/n not found
        exiting Error: failed to get output parameter 'n': /tmp/n not found
        completed Error: failed to get output parameter 'n': /tmp/n not found
        """,
    ),
    Row(
        "pod: script inputs rendered from workflow arguments",
        POD_INPUT,
        [],
        At(0),
        """
        started
        init @ Pod who=world
        start @
        run @: python <<print("hello world")
        """,
    ),
    Row(
        "pod: a lost attempt is started again as attempt 2",
        POD,
        [At(0)],
        At(5, lost=["@"]),
        """
        lost @ #1
        start @ #2
        run @: echo hello
        """,
    ),
    Row(
        "pod: workflow parallelism 1 holds the second pod",
        PARALLEL2,
        [],
        At(0),
        """
        started
        init @ Steps
        start @
        init @[0] StepGroup
        start @[0]
        init @[0].a Pod
        start @[0].a
        run @[0].a: true
        """,
    ),
    Row(
        "pod: workflow parallelism frees a slot when a pod ends",
        PARALLEL2,
        [At(0)],
        At(1, {"@[0].a": ok()}),
        """
        logged @[0].a
        finish @[0].a Succeeded
        init @[0].b Pod
        start @[0].b
        run @[0].b: true
        """,
    ),
    Row(
        "pod: nothing new to decide means an empty decision",
        POD,
        [At(0)],
        At(3),
        "",
    ),
    # retries
    Row(
        "retry: first reconcile creates the Retry node and child (0)",
        RETRY,
        [],
        At(0),
        """
        started
        init @ Retry
        start @
        init @(0) Pod
        start @(0)
        run @(0): flaky
        """,
    ),
    Row(
        "retry: a failed child starts child (1) at once",
        RETRY,
        [At(0)],
        At(1, {"@(0)": fail()}),
        """
        logged @(0)
        finish @(0) Failed: exit code 1
        init @(1) Pod
        start @(1)
        run @(1): flaky
        """,
    ),
    Row(
        "retry: limit reached, no more retries left",
        RETRY,
        [At(0), At(1, {"@(0)": fail()}), At(2, {"@(1)": fail()})],
        At(3, {"@(2)": fail()}),
        """
        logged @(2)
        finish @(2) Failed: exit code 1
        finish @ Failed: No more retries left
        exiting Failed: No more retries left
        completed Failed: No more retries left
        """,
    ),
    Row(
        "retry: success of a child succeeds the Retry node",
        RETRY,
        [At(0), At(1, {"@(0)": fail()})],
        At(2, {"@(1)": ok()}),
        """
        logged @(1)
        finish @(1) Succeeded
        finish @ Succeeded
        exiting Succeeded
        completed Succeeded
        """,
    ),
    Row(
        "retry: backoff waits duration*factor^n before the next child",
        RETRY_BACKOFF,
        [At(0), At(1, {"@(0)": fail()}), At(11)],
        At(12, {"@(1)": fail()}),
        """
        logged @(1)
        finish @(1) Failed: exit code 1
        wake +32
        """,
    ),
    Row(
        "retry: backoff not elapsed decides nothing but a wake",
        RETRY_BACKOFF,
        [At(0), At(1, {"@(0)": fail()})],
        At(5),
        """
        wake +11
        """,
    ),
    Row(
        "retry: OnError does not retry a failure",
        RETRY_ONERROR,
        [At(0)],
        At(1, {"@(0)": fail()}),
        """
        logged @(0)
        finish @(0) Failed: exit code 1
        finish @ Failed: exit code 1
        exiting Failed: exit code 1
        completed Failed: exit code 1
        """,
    ),
    Row(
        "retry: OnError retries an error",
        RETRY_ONERROR,
        [At(0)],
        At(1, {"@(0)": error()}),
        """
        logged @(0)
        finish @(0) Error: could not run
        init @(1) Pod
        start @(1)
        run @(1): flaky
        """,
    ),
    Row(
        "retry: expression false stops retrying",
        RETRY_EXPR,
        [At(0)],
        At(1, {"@(0)": fail(1)}),
        """
        logged @(0)
        finish @(0) Failed: exit code 1
        finish @ Failed: retryStrategy.expression evaluated to false
        exiting Failed: retryStrategy.expression evaluated to false
        completed Failed: retryStrategy.expression evaluated to false
        """,
    ),
    Row(
        "retry: expression true retries",
        RETRY_EXPR,
        [At(0)],
        At(1, {"@(0)": fail(75)}),
        """
        logged @(0)
        finish @(0) Failed: exit code 75
        init @(1) Pod
        start @(1)
        run @(1): flaky
        """,
    ),
    # steps
    Row(
        "steps: first group starts, arguments rendered",
        STEPS,
        [],
        At(0),
        """
        started
        init @ Steps
        start @
        init @[0] StepGroup
        start @[0]
        init @[0].a Pod m=one
        start @[0].a
        run @[0].a: echo one
        """,
    ),
    Row(
        "steps: next group reads the previous outputs; false when is Skipped",
        STEPS,
        [At(0)],
        At(1, {"@[0].a": ok("one\n")}),
        """
        logged @[0].a
        finish @[0].a Succeeded
        finish @[0] Succeeded
        init @[1] StepGroup
        start @[1]
        init @[1].b Pod m=one
        start @[1].b
        init @[1].c Skipped Skipped: when '{{steps.a.outputs.result}} == nope' evaluated false
        run @[1].b: echo one
        """,
    ),
    Row(
        "steps: a failed step fails the group, the steps and the workflow",
        STEPS,
        [At(0)],
        At(1, {"@[0].a": fail()}),
        """
        logged @[0].a
        finish @[0].a Failed: exit code 1
        finish @[0] Failed: child 'wf-673cf5b89273a6fc6fe6525529810dcc' failed
        finish @ Failed: child 'wf-673cf5b89273a6fc6fe6525529810dcc' failed
        exiting Failed: child 'wf-673cf5b89273a6fc6fe6525529810dcc' failed
        completed Failed: child 'wf-673cf5b89273a6fc6fe6525529810dcc' failed
        """,
    ),
    Row(
        "steps: continueOn failed goes on to the next group",
        STEPS_CONTINUE,
        [At(0)],
        At(1, {"@[0].a": fail()}),
        """
        logged @[0].a
        finish @[0].a Failed: exit code 1
        finish @[0] Succeeded
        init @[1] StepGroup
        start @[1]
        init @[1].b Pod
        start @[1].b
        run @[1].b: work
        """,
    ),
    # dag
    Row(
        "dag: only tasks without dependencies start",
        DAG,
        [],
        At(0),
        """
        started
        init @ DAG
        start @
        init @.A Pod
        start @.A
        run @.A: work
        """,
    ),
    Row(
        "dag: A succeeded: B runs, C (A.Failed) is Omitted",
        DAG,
        [At(0)],
        At(1, {"@.A": ok()}),
        """
        logged @.A
        finish @.A Succeeded
        init @.B Pod
        start @.B
        init @.C Skipped Omitted: omitted: depends condition not met
        run @.B: work
        """,
    ),
    Row(
        "dag: D (B && C) runs once B succeeded and C was omitted",
        DAG,
        [At(0), At(1, {"@.A": ok()})],
        At(2, {"@.B": ok()}),
        """
        logged @.B
        finish @.B Succeeded
        init @.D Skipped Omitted: omitted: depends condition not met
        finish @ Succeeded
        exiting Succeeded
        completed Succeeded
        """,
    ),
    Row(
        "dag: A failed: B omitted, C runs, D waits",
        DAG,
        [At(0)],
        At(1, {"@.A": fail()}),
        """
        logged @.A
        finish @.A Failed: exit code 1
        init @.B Skipped Omitted: omitted: depends condition not met
        init @.C Pod
        start @.C
        run @.C: work
        """,
    ),
    Row(
        "dag: failFast: a failed task starts nothing new, the DAG waits for running ones",
        DAG_FAILFAST,
        [At(0)],
        At(1, {"@.A": fail()}),
        """
        logged @.A
        finish @.A Failed: exit code 1
        init @.C Skipped Omitted: omitted: depends condition not met
        """,
    ),
    Row(
        "dag: failFast: the DAG fails once the running task ends",
        DAG_FAILFAST,
        [At(0), At(1, {"@.A": fail()})],
        At(5, {"@.B": ok()}),
        """
        logged @.B
        finish @.B Succeeded
        finish @ Failed: DAG wf failed
        exiting Failed: DAG wf failed
        completed Failed: DAG wf failed
        """,
    ),
    Row(
        "dag: target runs only the target's ancestors",
        DAG_TARGET,
        [],
        At(0),
        """
        started
        init @ DAG
        start @
        init @.A Pod
        start @.A
        run @.A: work
        """,
    ),
    Row(
        "dag: outputs flow to arguments and to the DAG's outputs",
        DAG_OUTPUTS,
        [At(0), At(1, {"@.gen": ok(n="42")})],
        At(2, {"@.use": ok("42\n")}),
        """
        logged @.use
        finish @.use Succeeded
        finish @ Succeeded final=42
        exiting Succeeded
        completed Succeeded
        """,
    ),
    # hooks and exit handlers
    Row(
        "exit: onExit starts after the entrypoint, sees workflow.status",
        EXIT,
        [At(0)],
        At(1, {"@": fail()}),
        """
        logged @
        finish @ Failed: exit code 1
        exiting Failed: exit code 1
        init @.onExit Pod role=exit
        start @.onExit
        run @.onExit: echo Failed
        """,
    ),
    Row(
        "exit: the workflow completes with the entrypoint's status after onExit",
        EXIT,
        [At(0), At(1, {"@": fail()})],
        At(2, {"@.onExit": ok()}),
        """
        logged @.onExit
        finish @.onExit Succeeded
        completed Failed: exit code 1
        """,
    ),
    Row(
        "exit: a failing onExit makes the workflow Error",
        EXIT,
        [At(0), At(1, {"@": ok()})],
        At(2, {"@.onExit": fail()}),
        """
        logged @.onExit
        finish @.onExit Failed: exit code 1
        completed Error: exit handler wf.onExit did not succeed
        """,
    ),
    Row(
        "exit: exitHandlers run in order; a false when is Skipped",
        EXIT_HANDLERS,
        [At(0)],
        At(1, {"@": ok()}),
        """
        logged @
        finish @ Succeeded
        exiting Succeeded
        init @.exitHandlers.notify Skipped role=exit Skipped: when '{{workflow.status}} != Succeeded' evaluated false
        init @.exitHandlers.always Pod role=exit
        start @.exitHandlers.always
        run @.exitHandlers.always: echo Succeeded
        """,  # noqa: E501
    ),
    Row(
        "exit: exitHandlers when true runs the handler",
        EXIT_HANDLERS,
        [At(0)],
        At(1, {"@": fail()}),
        """
        logged @
        finish @ Failed: exit code 1
        exiting Failed: exit code 1
        init @.exitHandlers.notify Pod role=exit
        start @.exitHandlers.notify
        run @.exitHandlers.notify: echo Failed
        """,
    ),
    Row(
        "exit: terminate stops the pod and runs no exit handler",
        EXIT,
        [At(0)],
        At(1, shutdown="Terminate"),
        """
        shutdown Terminate
        finish @ Failed: workflow shutdown with strategy: Terminate
        exiting Failed: Stopped with strategy 'Terminate'
        completed Failed: Stopped with strategy 'Terminate'
        kill @
        """,
    ),
    Row(
        "exit: stop fails the running pod; the exit handler still runs",
        EXIT,
        [At(0)],
        At(1, shutdown="Stop"),
        """
        shutdown Stop
        finish @ Failed: workflow shutdown with strategy: Stop
        exiting Failed: workflow shutdown with strategy: Stop
        init @.onExit Pod role=exit
        start @.onExit
        kill @
        run @.onExit: echo Failed
        """,
    ),
    Row(
        "hooks: a step's onExit runs before the next group",
        STEP_ONEXIT,
        [At(0)],
        At(1, {"@[0].a": ok()}),
        """
        logged @[0].a
        finish @[0].a Succeeded
        init @[0].a.onExit Pod role=exit
        start @[0].a.onExit
        run @[0].a.onExit: echo bye
        """,
    ),
    Row(
        "hooks: the next group waits for the step's onExit",
        STEP_ONEXIT,
        [At(0), At(1, {"@[0].a": ok()})],
        At(2, {"@[0].a.onExit": ok()}),
        """
        logged @[0].a.onExit
        finish @[0].a.onExit Succeeded
        finish @[0] Succeeded
        init @[1] StepGroup
        start @[1]
        init @[1].b Pod
        start @[1].b
        run @[1].b: work
        """,
    ),
    Row(
        "hooks: a workflow expression hook fires while running",
        WF_HOOK,
        [],
        At(0),
        """
        started
        init @ Pod
        start @
        init @.hooks.running Pod role=hook
        start @.hooks.running
        run @: work
        run @.hooks.running: echo running
        """,
    ),
    Row(
        "hooks: a task hook fires on its task's failure",
        TASK_HOOK,
        [At(0)],
        At(1, {"@.A": fail()}),
        """
        logged @.A
        finish @.A Failed: exit code 1
        init @.A.hooks.failed Pod role=hook
        start @.A.hooks.failed
        run @.A.hooks.failed: echo alert
        """,
    ),
    # loops
    Row(
        "loops: withItems expands to one child per item",
        ITEMS,
        [],
        At(0),
        """
        started
        init @ Steps
        start @
        init @[0] StepGroup
        start @[0]
        init @[0].s(0:x) Pod m=x
        start @[0].s(0:x)
        init @[0].s(1:y) Pod m=y
        start @[0].s(1:y)
        run @[0].s(0:x): echo x
        run @[0].s(1:y): echo y
        """,
    ),
    Row(
        "loops: withParam expands a JSON list from a step's output",
        PARAM,
        [At(0)],
        At(1, {"@[0].gen": ok('[{"k": "p"}, {"k": "q"}]\n')}),
        """
        logged @[0].gen
        finish @[0].gen Succeeded
        finish @[0] Succeeded
        init @[1] StepGroup
        start @[1]
        init @[1].s(0:k:p) Pod m=p
        start @[1].s(0:k:p)
        init @[1].s(1:k:q) Pod m=q
        start @[1].s(1:k:q)
        run @[1].s(0:k:p): echo p
        run @[1].s(1:k:q): echo q
        """,
    ),
    Row(
        "loops: withParam that is not a JSON list errors the step",
        PARAM,
        [At(0)],
        At(1, {"@[0].gen": ok("nope\n")}),
        """
        logged @[0].gen
        finish @[0].gen Succeeded
        finish @[0] Succeeded
        init @[1] StepGroup
        start @[1]
        init @[1].s Skipped Error: withParam value could not be parsed as a JSON list: nope
        finish @[1] Failed: child 'wf-ea797b7421ac0ea5c72218e6ebb11080' failed
        finish @ Failed: child 'wf-ea797b7421ac0ea5c72218e6ebb11080' failed
        exiting Failed: child 'wf-ea797b7421ac0ea5c72218e6ebb11080' failed
        completed Failed: child 'wf-ea797b7421ac0ea5c72218e6ebb11080' failed
        """,
    ),
    Row(
        "loops: withSequence count/start/format in a DAG task group",
        SEQ,
        [],
        At(0),
        """
        started
        init @ DAG
        start @
        init @.t TaskGroup
        start @.t
        init @.t(0:n01) Pod m=n01
        start @.t(0:n01)
        init @.t(1:n02) Pod m=n02
        start @.t(1:n02)
        init @.t(2:n03) Pod m=n03
        start @.t(2:n03)
        run @.t(0:n01): echo n01
        run @.t(1:n02): echo n02
        run @.t(2:n03): echo n03
        """,
    ),
    Row(
        "loops: empty withItems is Skipped",
        EMPTY,
        [],
        At(0),
        """
        started
        init @ Steps
        start @
        init @[0] StepGroup
        start @[0]
        init @[0].s Skipped Skipped: Skipped, empty params
        finish @[0] Succeeded
        finish @ Succeeded
        exiting Succeeded
        completed Succeeded
        """,
    ),
    # deadlines
    Row(
        "deadline: activeDeadlineSeconds sets a wake at the deadline",
        DEADLINE,
        [],
        At(0),
        """
        started
        init @ Pod
        start @
        run @: sleep 60 (deadline +30)
        wake +30
        """,
    ),
    Row(
        "deadline: past the deadline the pod is killed and the exit handler runs",
        DEADLINE,
        [At(0)],
        At(30),
        """
        finish @ Failed: Step exceeded its deadline
        exiting Failed: Step exceeded its deadline
        init @.onExit Pod role=exit
        start @.onExit
        kill @
        run @.onExit: echo Failed
        """,
    ),
    Row(
        "deadline: a template timeout is the job's deadline and a wake",
        TIMEOUT,
        [],
        At(0),
        """
        started
        init @ Pod t=7
        start @
        run @: sleep 60 (deadline +7)
        """,
    ),
    Row(
        "deadline: a deadline stops new steps (Failed without running)",
        spec("""
entrypoint: main
activeDeadlineSeconds: 10
templates:
- name: main
  steps:
  - - {name: a, template: w}
  - - {name: b, template: w}
- name: w
  container: {image: alpine, command: [work]}
"""),
        [At(0)],
        At(10, {"@[0].a": ok()}),
        """
        logged @[0].a
        finish @[0].a Succeeded
        finish @[0] Succeeded
        init @[1] StepGroup
        start @[1]
        init @[1].b Skipped Failed: Step exceeded its deadline
        finish @[1] Failed: child 'wf-98e7489f34590c08ad52fbd3571490de' failed
        finish @ Failed: child 'wf-98e7489f34590c08ad52fbd3571490de' failed
        exiting Failed: child 'wf-98e7489f34590c08ad52fbd3571490de' failed
        completed Failed: child 'wf-98e7489f34590c08ad52fbd3571490de' failed
        """,
    ),
    Row(
        "deadline: a result that arrives after the deadline stopped the pod is ignored",
        DEADLINE,
        [At(0), At(30)],
        At(31, {"@": ok()}),
        "",
    ),
    Row(
        "recovery: a lost onExit attempt is started again",
        SEQ_STEPS,
        [At(0), At(1, {"@[0].a": ok()}), At(2, {"@[1].b": ok()})],
        At(9, lost=["@.onExit"]),
        """
        lost @.onExit #1
        start @.onExit #2
        run @.onExit: echo bye
        """,
    ),
]


def _expected(row: Row) -> list[str]:
    return [line for line in textwrap.dedent(row.then).splitlines() if line.strip()]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_next_decision(row: Row) -> None:
    h = Harness(row.spec)
    h.run(row.given)
    restarted = h.restarted()
    assert h.step(row.when) == _expected(row)
    assert restarted.step(row.when) == _expected(row), "a restarted controller decides otherwise"


def test_the_table_covers_every_concern() -> None:
    concerns = {r.id.split(":")[0] for r in ROWS}
    assert {"pod", "retry", "steps", "dag", "exit", "hooks", "loops", "deadline"} <= concerns
    assert len(ROWS) >= 30
