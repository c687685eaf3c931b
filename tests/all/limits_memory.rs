//! The memory limit holds for all of a node's memories and tables together, not per memory.

use super::limits::trapped;
use serde_json::Map;
use wtb::model::{ExecutionStatus, TrapKind};
use wtb_tests::Harness;

/// A `wasi:cli` command component that instantiates one core module `copies` times, each
/// instance with a `pages`-page memory: the shape of finding 2 of the security issue (a
/// per-memory limit let such a node use `copies` times its limit).
fn many_memories_component(copies: u32, pages: u64) -> Vec<u8> {
    use wasm_encoder::{
        CanonicalFunctionSection, CodeSection, Component, ComponentExportKind, ComponentExportSection,
        ComponentInstanceSection, ComponentTypeSection, ComponentValType, ExportKind, ExportSection,
        Function, FunctionSection, InstanceSection, MemorySection, MemoryType, Module, ModuleSection,
        TypeSection, ValType,
    };
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    module.section(&types);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    module.section(&funcs);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: pages,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&memories);
    let mut exports = ExportSection::new();
    exports.export("run", ExportKind::Func, 0);
    module.section(&exports);
    let mut code = CodeSection::new();
    let mut body = Function::new([]);
    body.instructions().i32_const(0).end();
    code.function(&body);
    module.section(&code);

    let mut component = Component::new();
    component.section(&ModuleSection(&module));
    let mut instances = InstanceSection::new();
    for _ in 0..copies {
        instances.instantiate(0, Vec::<(&str, wasm_encoder::ModuleArg)>::new());
    }
    component.section(&instances);
    let mut alias = wasm_encoder::ComponentAliasSection::new();
    alias.alias(wasm_encoder::Alias::CoreInstanceExport { instance: 0, kind: ExportKind::Func, name: "run" });
    component.section(&alias);
    let mut ctypes = ComponentTypeSection::new();
    ctypes.defined_type().result(None, None);
    ctypes.function().params(Vec::<(&str, ComponentValType)>::new()).result(Some(ComponentValType::Type(0)));
    component.section(&ctypes);
    let mut canon = CanonicalFunctionSection::new();
    canon.lift(0, 1, Vec::<wasm_encoder::CanonicalOption>::new());
    component.section(&canon);
    let mut inst = ComponentInstanceSection::new();
    inst.export_items([("run", ComponentExportKind::Func, 0)]);
    component.section(&inst);
    let mut export = ComponentExportSection::new();
    export.export("wasi:cli/run@0.2.0", ComponentExportKind::Instance, 0, None);
    component.section(&export);
    component.finish()
}

/// Finding 2 of the security issue: a component that instantiated one module 8 times used
/// 8× its memory limit. Now more memories than a node may have are refused when the workflow
/// loads (one node cannot take the pool's slots), and the limit holds for the sum: four
/// 16 MiB memories under a 48 MiB limit are out of memory, though each alone would fit.
#[tokio::test(flavor = "multi_thread")]
async fn the_memory_limit_holds_for_all_of_a_node_s_memories_together() {
    let h = Harness::new();
    let exec = h.executor().await;
    let manifest = |name: &str| {
        format!(
            "name = \"{name}\"\n[[nodes]]\nid = \"many\"\ncomponent = \"{name}.wasm\"\nlimits = {{ memory_mib = 48 }}\n"
        )
    };
    h.file("eight.wasm", many_memories_component(8, 256));
    let e = exec
        .load_workflow(&h.file("eight.toml", manifest("eight")))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("8 Wasm linear memories, which exceeds the configured maximum of 4"), "{e}");

    h.file("four.wasm", many_memories_component(4, 256));
    let wf = exec.load_workflow(&h.file("four.toml", manifest("four"))).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Failed);
    let r = exec.inspect().describe(s.execution).await.unwrap();
    trapped(&r.nodes[0].boundary, TrapKind::OutOfMemory);

    h.file("two.wasm", many_memories_component(2, 256));
    let wf = exec.load_workflow(&h.file("two.toml", manifest("two"))).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
    let b = exec.inspect().describe(s.execution).await.unwrap().nodes[0].boundary.clone();
    assert!(
        b.peak_memory_bytes.unwrap() >= 32 << 20,
        "the peak is the total of both memories: {:?}",
        b.peak_memory_bytes
    );
}
