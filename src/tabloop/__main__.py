from tabloop.cli import main

main()
