from procman.cli.fast import main

main()
