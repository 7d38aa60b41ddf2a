pub fn run_demo(_dir: &std::path::Path) -> anyhow::Result<String> {
    todo!()
}
