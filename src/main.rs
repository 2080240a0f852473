fn main() -> std::process::ExitCode {
    public_api::cli::main()
}
