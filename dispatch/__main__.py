from dispatch.runtime.cli import main

main()
